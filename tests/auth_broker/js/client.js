// The JavaScript client from the ostai/futuopend README (seed 000_63322d5ed144495d), unchanged except
// for the server URL, which the test passes as the first argument (the README hard-codes port 8081).
const {WebSocket} = require('ws')

const ws = new WebSocket(process.argv[2])

ws.on('message', msg => {
  const data = JSON.parse(msg)

  if (data.type === 'REQUEST_CODE') {
    ws.send(JSON.stringify({
      type: 'VERIFY_CODE',
      code: '12345'
    }))
    return
  }

  if (data.type === 'STATUS') {
    console.log('status:', data.status)
    return
  }
})

ws.on('open', () => {
  ws.send(JSON.stringify({
    type: 'STATUS'
  }))

  // If FUTU_INIT_ON_START=no, we need to initialize FutuOpenD manually
  ws.send(JSON.stringify({
    type: 'INIT'
  }))
})

// --- test harness (not part of the README snippet): report every frame, stop once connected ---
ws.on('message', msg => {
  const data = JSON.parse(msg)
  console.log('frame:', data.type)
  if (data.type === 'CONNECTED') {
    ws.close()
  }
})
ws.on('close', () => process.exit(0))
ws.on('error', err => {
  console.error('error:', err.message)
  process.exit(2)
})
