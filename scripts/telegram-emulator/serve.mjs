// Starts the Telegram Bot API emulator (telegram-test-api) on 127.0.0.1:<port> for the channel
// tests; prints "ready" once it listens. Usage: node serve.mjs <port> [storeTimeoutSeconds]
import pkg from 'telegram-test-api';

const TelegramServer = pkg.TelegramServer ?? pkg.default ?? pkg;
const port = Number(process.argv[2] ?? 9000);
const storeTimeout = Number(process.argv[3] ?? 600);
const server = new TelegramServer({ port, host: '127.0.0.1', storeTimeout });
await server.start();
console.log('ready');
process.on('SIGTERM', async () => { await server.stop(); process.exit(0); });
