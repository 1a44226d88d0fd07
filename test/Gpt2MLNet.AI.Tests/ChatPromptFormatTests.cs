using Gpt2.Torch.Instructions;
using Microsoft.Extensions.AI;

namespace Gpt2MLNet.AI.Tests;

/// <summary>How <see cref="ChatPromptFormat"/> renders a conversation, as its documentation says.</summary>
[TestClass]
public sealed class ChatPromptFormatTests
{
    private const string Preamble = "Below is an instruction that describes a task. Write a response that appropriately completes the request.";

    [TestMethod]
    public void AlpacaWritesSystemMessagesFirstAndEarlierTurnsAsCompleteExamples()
    {
        ChatMessage[] messages =
        [
            new(ChatRole.System, "You answer in one word."),
            new(ChatRole.User, "Name a color."),
            new(ChatRole.Assistant, "Blue."),
            new(ChatRole.User, "Name a fruit."),
        ];
        string expected =
            "Always be kind.\n\nYou answer in one word.\n\n" +
            $"{Preamble}\n\n### Instruction:\nName a color.\n\n### Response:\nBlue.\n\n" +
            $"{Preamble}\n\n### Instruction:\nName a fruit.\n\n### Response:\n";
        Assert.AreEqual(expected, ChatPromptFormat.Alpaca.Render(messages, instructions: "Always be kind."));
    }

    [TestMethod]
    public void ASingleUserMessageIsExactlyTheInstructionPrompt()
    {
        Assert.AreEqual(InstructionPromptFormat.Alpaca.FormatPrompt("Name a color.", null), ChatPromptFormat.Alpaca.Render([new(ChatRole.User, "Name a color.")]));
        Assert.AreEqual("<|user|>\nName a color.\n\n<|assistant|>\n", ChatPromptFormat.Phi3.Render([new(ChatRole.User, "Name a color.")]));
        Assert.AreSame(ChatPromptFormat.Alpaca, ChatPromptFormat.FromInstructionFormat(InstructionPromptFormat.Alpaca));
    }

    [TestMethod]
    public void RawTextJoinsTheMessagesByNewLines()
    {
        Assert.AreEqual("Be brief.\nEvery effort\nmoves you",
            ChatPromptFormat.RawText.Render([new(ChatRole.System, "Be brief."), new(ChatRole.User, "Every effort"), new(ChatRole.Assistant, "moves you")]));
    }

    [TestMethod]
    public void ConversationsAnInstructionFormatCannotAnswerAreRefused()
    {
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() =>
            ChatPromptFormat.Alpaca.Render([new(ChatRole.User, "Hi"), new(ChatRole.Assistant, "Hello")])).Message, "end with a user message");
        Assert.ThrowsExactly<ArgumentException>(() => ChatPromptFormat.RawText.Render([]));
        Assert.ThrowsExactly<NotSupportedException>(() => ChatPromptFormat.RawText.Render([new(ChatRole.Tool, "42")]));
    }
}
