// Pushes a few records with winston-loki (a real Loki client) as protobuf + snappy.
// Usage: node loki-client-winston.js URL   (needs `npm install winston winston-loki`).
// Used to capture the loki-winston-protobuf.bin fixture.
const { createLogger } = require('winston')
const LokiTransport = require('winston-loki')

const transport = new LokiTransport({
  host: process.argv[2],
  labels: { app: 'cart', namespace: 'shop' },
  json: false,
  batching: true,
  interval: 0.2,
  onConnectionError: (err) => { console.error(err); process.exitCode = 1 }
})
const logger = createLogger({ transports: [transport] })
logger.info('cart 42 updated')
logger.error('Java heap space', { labels: { pod: 'cart-5c6b-q1' } })
logger.warn('slow query: 1200 ms é')
setTimeout(() => transport.flush().then(() => process.exit()), 500)
