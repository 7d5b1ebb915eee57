// ostai's integration scenario (three login rounds, clients joining while a code is wanted and while
// connected), written for these tests from the scenario's description and driven by the npm `ws` client:
// every client must receive exactly the frames ostai's server sends, in order, within ostai's 10 s.
// Usage: node ostai_rounds.js ws://host:port   (exit 0 = the scenario held; a message says what did not)
const {WebSocket} = require('ws')

const URL = process.argv[2]
const CODE = '12345'
const TIMEOUT_MS = 10000

const fail = message => {
  console.error(message)
  process.exit(1)
}
setTimeout(() => fail(`scenario not finished within ${TIMEOUT_MS} ms`), TIMEOUT_MS).unref()

// one connection; frames are taken strictly in arrival order, as ostai's client does
const connect = name => {
  const ws = new WebSocket(URL)
  const frames = []
  const waiting = []
  ws.on('message', raw => {
    const frame = JSON.parse(raw)
    const take = waiting.shift()
    if (take) take(frame)
    else frames.push(frame)
  })
  ws.on('error', err => fail(`${name}: ${err.message}`))
  const next = () => frames.length ? Promise.resolve(frames.shift()) : new Promise(resolve => waiting.push(resolve))
  const open = new Promise(resolve => ws.on('open', resolve))
  const send = message => ws.send(JSON.stringify(message))
  const expect = async type => {
    const frame = await next()
    if (frame.type !== type) fail(`${name}: expected ${type}, got ${JSON.stringify(frame)}`)
    console.log(`${name}: ${type}`)
  }
  return {name, ws, next, open, send, expect}
}

// connects and sends INIT; resolves (once connected) to the promise of the rest of its frames
const joiner = async (name, firstFrame) => {
  const client = connect(name)
  await client.open
  client.send({type: 'INIT'})  // ignored: OpenD is running
  const rest = async () => {
    await client.expect(firstFrame)
    if (firstFrame === 'REQUEST_CODE') await client.expect('CONNECTED')
    for (let round = 2; round <= 3; round++) {
      await client.expect('CLOSED')
      await client.expect('REQUEST_CODE')
      await client.expect('CONNECTED')
    }
    client.ws.close()
  }
  return {done: rest()}
}

const main = async () => {
  const first = connect('first')
  await first.open
  first.send({type: 'STATUS'})
  const status = await first.next()
  if (status.type !== 'STATUS' || status.status !== -1) fail(`first: expected STATUS -1, got ${JSON.stringify(status)}`)
  const started = Date.now()
  first.send({type: 'INIT'})
  const others = []
  for (let round = 1; round <= 3; round++) {
    if (round > 1) await first.expect('CLOSED')
    await first.expect('REQUEST_CODE')
    if (round === 1) others.push((await joiner('second', 'REQUEST_CODE')).done)
    first.send({type: 'VERIFY_CODE', code: CODE})
    await first.expect('CONNECTED')
    if (round === 1) others.push((await joiner('third', 'CONNECTED')).done)
  }
  await Promise.all(others)
  console.log(`elapsed_ms: ${Date.now() - started}`)
  first.ws.close()
  process.exit(0)
}

main().catch(err => fail(err.stack || String(err)))
