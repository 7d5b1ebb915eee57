// The start-up sequence of webctp's demo page (openctp/webctp web/index.html), driven by Node and the
// `ws` package: every request is built as a JavaScript object and sent with JSON.stringify, every answer
// goes through JSON.parse, and each step waits for the previous answer's IsLast, as the page does.
// Usage: node webctp_page.js <ws base url> <UserID> <Password> <instrument>
// Prints one JSON line per notable event and a final {"done": ...} summary; exits 1 on a failure.
'use strict';
const WebSocket = require('ws');

const [base, userId, password, instrument] = process.argv.slice(2);
const state = { brokerID: '', tradingDay: '', account: null, exchanges: {}, instruments: {}, errors: [],
                mdLogin: false, quote: null, order: null };
const out = (event) => process.stdout.write(JSON.stringify(event) + '\n');
const fail = (why) => { out({ fail: why, errors: state.errors }); process.exit(1); };
setTimeout(() => fail('timeout'), 20000);

// The page counts an answer as failed when RspInfo is not null and ErrorID is not 0.
function ok(step, data) {
  const info = data.RspInfo;
  if (info !== null && info !== undefined && info.ErrorID !== 0) {
    state.errors.push(`${step}: ${info.ErrorID} ${info.ErrorMsg}`);
    return false;
  }
  return true;
}

const md = new WebSocket(base + '/md/');
const td = new WebSocket(base + '/td/');
const sendMd = (req) => md.send(JSON.stringify(req));
const sendTd = (req) => { req.RequestID = 0; td.send(JSON.stringify(req)); };

md.on('open', () => sendMd({ MsgType: 'ReqUserLogin', ReqUserLogin: { UserID: '', Password: '' } }));
td.on('open', () => sendTd({ MsgType: 'ReqUserLogin', ReqUserLogin: { UserID: userId, Password: password } }));

md.on('message', (text) => {
  const data = JSON.parse(text);
  if (data.MsgType === 'RspUserLogin') {
    state.mdLogin = ok('md login', data);
    if (!state.mdLogin) fail('market data login refused');
  } else if (data.MsgType === 'RspSubMarketData') {
    if (!ok('subscribe', data)) fail('subscribe refused');
  } else if (data.MsgType === 'RtnDepthMarketData' && state.quote === null) {
    state.quote = data.DepthMarketData;
    out({ quote: state.quote.InstrumentID, last: state.quote.LastPrice });
    const price = state.quote.LastPrice - 100;  // a buy well below the market rests
    sendTd({ MsgType: 'ReqOrderInsert', InputOrder: {
      BrokerID: state.brokerID, InvestorID: userId, ExchangeID: state.instruments[instrument].ExchangeID,
      InstrumentID: instrument, LimitPrice: price, OrderPriceType: '2', Direction: '0', CombOffsetFlag: '0',
      CombHedgeFlag: '1', VolumeTotalOriginal: 1, TimeCondition: '3', VolumeCondition: '1',
      ContingentCondition: '1', ForceCloseReason: '0', IsAutoSuspend: 0, IsSwapOrder: 0 } });
  }
});

td.on('message', (text) => {
  const data = JSON.parse(text);
  const last = data.IsLast === true;
  switch (data.MsgType) {
    case 'RspUserLogin':
      if (!ok('td login', data)) fail('trading login refused');
      state.brokerID = data.RspUserLogin.BrokerID;
      state.tradingDay = data.RspUserLogin.TradingDay;
      sendTd({ MsgType: 'ReqQryTradingAccount', QryTradingAccount: { BrokerID: state.brokerID, InvestorID: userId } });
      break;
    case 'RspQryTradingAccount':
      if (!ok('account', data)) fail('account query refused');
      state.account = data.TradingAccount;
      out({ preBalance: state.account.PreBalance.toFixed(2), accountID: state.account.AccountID });  // the account bar
      if (last) sendTd({ MsgType: 'ReqQryExchange', QryExchange: { ExchangeID: '' } });
      break;
    case 'RspQryExchange':
      if (data.Exchange !== null) state.exchanges[data.Exchange.ExchangeID] = data.Exchange;
      if (last) sendTd({ MsgType: 'ReqQryOrder', QryOrder: { InvestorID: userId, InstrumentID: '' } });
      break;
    case 'RspQryOrder':
      if (last) sendTd({ MsgType: 'ReqQryTrade', QryTrade: { BrokerID: state.brokerID, InvestorID: userId,
                                                              ExchangeID: '' } });
      break;
    case 'RspQryTrade':
      if (last) sendTd({ MsgType: 'ReqQryInvestorPosition', QryInvestorPosition: {
        BrokerID: state.brokerID, InvestorID: userId, ExchangeID: '' } });
      break;
    case 'RspQryInvestorPosition':
      if (last) sendTd({ MsgType: 'ReqQryInstrument', QryInstrument: { ExchangeID: '', InstrumentID: '',
                                                                        ProductID: '' } });
      break;
    case 'RspQryInstrument': {
      const inst = data.Instrument;
      if (inst !== null && inst.ProductClass === '1') {
        inst.ExchangeName = state.exchanges[inst.ExchangeID].ExchangeName;  // the page's lookup
        if (inst.InstrumentID in state.instruments) state.errors.push(`listed twice: ${inst.InstrumentID}`);
        state.instruments[inst.InstrumentID] = inst;
      }
      if (last) {
        out({ instruments: Object.keys(state.instruments).length });
        sendMd({ MsgType: 'SubscribeMarketData', InstrumentID: [instrument] });
      }
      break;
    }
    case 'RtnOrder': {
      const order = data.Order;
      if (order.OrderStatus === '3' && state.order === null) {
        state.order = order;
        sendTd({ MsgType: 'ReqOrderAction', InputOrderAction: {
          BrokerID: state.brokerID, InvestorID: userId, UserID: userId, ExchangeID: order.ExchangeID,
          InstrumentID: order.InstrumentID, ActionFlag: '0', OrderSysID: order.OrderSysID } });
      } else if (order.OrderStatus === '5' && state.order !== null) {
        out({ done: { tradingDay: state.tradingDay, orderTradingDay: order.TradingDay, investor: order.InvestorID,
                      errors: state.errors } });
        md.close();
        td.close();
        process.exit(state.errors.length ? 1 : 0);
      }
      break;
    }
    case 'RspOrderInsert':
    case 'RspOrderAction':
      if (!ok(data.MsgType, data)) fail(data.MsgType);
      break;
    default:
      break;
  }
});
md.on('error', (e) => fail('md socket: ' + e.message));
td.on('error', (e) => fail('td socket: ' + e.message));
