// Loopback server for a local GGUF model (SmolLM2-135M in tests) speaking the two wire formats
// the rca crate uses: Ollama `POST /api/chat` and OpenAI `POST /v1/chat/completions`,
// non-streaming, with JSON-schema constrained output through node-llama-cpp grammars.
//
// Usage: node serve.mjs --model PATH.gguf [--port 0] [--threads 1] [--context 4096]
// Prints `listening http://127.0.0.1:PORT` once the model is loaded. Binds 127.0.0.1 only.
import http from "node:http";
import path from "node:path";
import { getLlama, LlamaChatSession } from "node-llama-cpp";

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const modelPath = arg("model", process.env.SREBOT_LLM_GGUF);
if (!modelPath) {
  console.error("missing --model PATH.gguf");
  process.exit(2);
}
const port = Number(arg("port", "0"));
const threads = Number(arg("threads", "1"));
const contextSize = Number(arg("context", "4096"));
const modelName = path.basename(modelPath, ".gguf");

const llama = await getLlama({ gpu: false });
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({ contextSize, threads });
const sequence = context.getSequence();

// node-llama-cpp's schema grammar takes a subset of JSON schema: keep what it knows.
function grammarSchema(schema) {
  if (Array.isArray(schema)) return schema.map(grammarSchema);
  if (schema === null || typeof schema !== "object") return schema;
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === "required" || k === "strict" || k === "$schema") continue;
    out[k] = grammarSchema(v);
  }
  return out;
}

let queue = Promise.resolve();
function serialised(job) {
  const run = queue.then(job, job);
  queue = run.catch(() => {});
  return run;
}

async function complete({ messages, schema, jsonObject, temperature, maxTokens }) {
  const system = messages.filter((m) => m.role === "system").map((m) => m.content).join("\n");
  const users = messages.filter((m) => m.role === "user");
  const user = users.length ? users[users.length - 1].content : "";
  await sequence.clearHistory();
  const session = new LlamaChatSession({
    contextSequence: sequence,
    systemPrompt: system,
    autoDisposeSequence: false,
  });
  let grammar;
  if (schema) grammar = await llama.createGrammarForJsonSchema(grammarSchema(schema));
  else if (jsonObject) grammar = await llama.getGrammarFor("json");
  const started = Date.now();
  const text = await session.prompt(user, { grammar, temperature, maxTokens });
  session.dispose({ disposeSequence: false });
  return { text, ms: Date.now() - started };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function send(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.method === "GET" && (req.url === "/health" || req.url === "/api/version")) {
      return send(res, 200, { status: "ok", model: modelName });
    }
    if (req.method !== "POST") return send(res, 405, { error: "method not allowed" });
    let body;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      return send(res, 400, { error: "body is not JSON" });
    }
    const messages = Array.isArray(body.messages) ? body.messages : [];
    if (req.url === "/api/chat") {
      const format = body.format;
      const options = body.options || {};
      const { text, ms } = await serialised(() =>
        complete({
          messages,
          schema: format && typeof format === "object" ? format : undefined,
          jsonObject: format === "json",
          temperature: options.temperature ?? 0,
          maxTokens: options.num_predict ?? 512,
        }),
      );
      return send(res, 200, {
        model: body.model || modelName,
        created_at: new Date().toISOString(),
        message: { role: "assistant", content: text },
        done_reason: "stop",
        done: true,
        total_duration: ms * 1e6,
      });
    }
    if (req.url === "/v1/chat/completions") {
      const rf = body.response_format || {};
      const { text } = await serialised(() =>
        complete({
          messages,
          schema: rf.type === "json_schema" ? rf.json_schema?.schema : undefined,
          jsonObject: rf.type === "json_object",
          temperature: body.temperature ?? 0,
          maxTokens: body.max_tokens ?? 512,
        }),
      );
      return send(res, 200, {
        id: `chatcmpl-${Date.now()}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: body.model || modelName,
        choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
      });
    }
    return send(res, 404, { error: "not found" });
  } catch (e) {
    return send(res, 500, { error: String(e && e.message ? e.message : e) });
  }
});

server.listen(port, "127.0.0.1", () => {
  console.log(`listening http://127.0.0.1:${server.address().port}`);
});
