// Calls a running Gpt2Server with OpenAI-compatible clients this project did not write (openai-node, the Vercel AI SDK
// and LangChain.js) and fails when an answer is missing or malformed. Not part of CI (it needs Node and npm packages).
import OpenAI from "openai";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText, embed, generateObject } from "ai";
import { ChatOpenAI, OpenAIEmbeddings } from "@langchain/openai";
import { z } from "zod";

const baseURL = process.env.BASE_URL ?? "http://127.0.0.1:5080/v1";
const apiKey = process.env.API_KEY ?? "unused";
const model = process.env.MODEL ?? "124M";
const client = new OpenAI({ baseURL, apiKey });
const provider = createOpenAI({ baseURL, apiKey });
let failures = 0;

function expect(condition, what) {
  if (!condition) throw new Error(`expected ${what}`);
}

async function check(name, body) {
  try {
    console.log(`ok   ${name}: ${JSON.stringify(await body()).slice(0, 150)}`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e?.message ?? e}`);
  }
}

async function refusal(call) {
  try {
    await call();
  } catch (e) {
    return [e.status, e.code];
  }
  throw new Error("expected an error");
}

const schema = { type: "object", properties: { color: { enum: ["red", "blue"] }, ok: { type: "boolean" } }, required: ["color", "ok"], additionalProperties: false };

await check("openai-node chat.completions", async () => {
  const c = (await client.chat.completions.create({ model, messages: [{ role: "user", content: "Hi" }], max_tokens: 8 })).choices[0];
  expect(typeof c.message.content === "string" && c.message.content.length > 0, "text");
  return c.message.content;
});
await check("openai-node responses", async () => {
  const r = await client.responses.create({ model, input: "Hi", max_output_tokens: 8 });
  expect(r.object === "response" && r.output_text.length > 0 && r.usage.output_tokens > 0, "a response with text and usage");
  return [r.status, r.output_text];
});
await check("openai-node responses, streamed", async () => {
  const whole = (await client.responses.create({ model, input: "Hi", max_output_tokens: 8 })).output_text;
  let text = "";
  const types = [];
  for await (const e of await client.responses.create({ model, input: "Hi", max_output_tokens: 8, stream: true })) {
    types.push(e.type);
    if (e.type === "response.output_text.delta") text += e.delta;
  }
  expect(text === whole, `streamed deltas to equal the whole answer '${whole}'`);
  expect(types[0] === "response.created" && ["response.completed", "response.incomplete"].includes(types.at(-1)), "created first and completed last");
  return [...new Set(types)];
});
await check("openai-node embeddings", async () => {
  const r = await client.embeddings.create({ model, input: ["a b", "c"] });
  expect(r.data.length === 2 && r.data[0].embedding.length > 0 && r.usage.prompt_tokens > 0, "two vectors and usage");
  return [r.data.length, r.data[0].embedding.length];
});
await check("openai-node response_format json_schema", async () => {
  const c = (await client.chat.completions.create({ model, messages: [{ role: "user", content: "Pick" }], max_tokens: 30,
    response_format: { type: "json_schema", json_schema: { name: "pick", strict: true, schema } } })).choices[0];
  const value = JSON.parse(c.message.content);
  expect(["red", "blue"].includes(value.color) && typeof value.ok === "boolean" && Object.keys(value).length === 2, "a document of the schema");
  return value;
});
await check("openai-node wrong API key", async () => {
  const [status, code] = await refusal(() => new OpenAI({ baseURL, apiKey: `${apiKey}-wrong` }).models.list());
  expect(status === 401 && code === "invalid_api_key" || apiKey === "unused", "401 invalid_api_key (when the server has --api-key)");
  return [status, code];
});
await check("openai-node unknown model", async () => {
  const [status, code] = await refusal(() => client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "Hi" }] }));
  expect(status === 404 && code === "model_not_found", "404 model_not_found");
  return [status, code];
});
await check("AI SDK generateText (its default OpenAI provider calls the Responses API)", async () => {
  const r = await generateText({ model: provider(model), prompt: "Hi", maxOutputTokens: 8 });
  expect(r.text.length > 0 && r.usage.outputTokens > 0, "text and usage");
  return [r.text, r.finishReason];
});
await check("AI SDK streamText", async () => {
  let text = "";
  for await (const part of streamText({ model: provider(model), prompt: "Hi", maxOutputTokens: 8 }).textStream) text += part;
  expect(text.length > 0, "streamed text");
  return text;
});
await check("AI SDK chat completions provider", async () => {
  const r = await generateText({ model: provider.chat(model), prompt: "Hi", maxOutputTokens: 8 });
  expect(r.text.length > 0, "text");
  return r.text;
});
await check("AI SDK embed", async () => (await embed({ model: provider.embedding(model), value: "a b" })).embedding.length);
await check("AI SDK generateObject (Responses text.format json_schema)", async () => {
  const { object } = await generateObject({ model: provider(model), schema: z.object({ color: z.enum(["red", "blue"]) }), prompt: "Pick", maxOutputTokens: 16 });
  expect(["red", "blue"].includes(object.color), "an object of the schema");
  return object;
});
await check("LangChain.js ChatOpenAI", async () => {
  const m = await new ChatOpenAI({ model, apiKey, configuration: { baseURL }, maxTokens: 8 }).invoke("Hi");
  expect(typeof m.content === "string" && m.content.length > 0, "text");
  return m.content;
});
await check("LangChain.js OpenAIEmbeddings", async () => (await new OpenAIEmbeddings({ model, apiKey, configuration: { baseURL } }).embedQuery("a b")).length);

process.exitCode = failures === 0 ? 0 : 1;
