using System.Collections.ObjectModel;
using System.Text.Json;
using Gpt2.Torch.Generation;
using Microsoft.Extensions.AI;

namespace Gpt2MLNet.AI.Tests;

/// <summary>
/// <see cref="Gpt2ChatOptions.ToGenerationOptions"/>, the one mapping of the chat client and the server: every field,
/// every additional property in every number type a caller or a JSON round trip produces, and the refusals.
/// </summary>
[TestClass]
public sealed class ChatOptionsMappingTests
{
    private static readonly GenerationOptions Defaults = new() { MaxNewTokens = 7, MinP = 0.25, Seed = 3, StopStrings = ["END"] };

    private static GenerationOptions Map(ChatOptions? options) => Gpt2ChatOptions.ToGenerationOptions(options, Defaults);

    private static GenerationOptions With(string key, object? value) =>
        Map(new ChatOptions { AdditionalProperties = new() { [key] = value } });

    private static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    [TestMethod]
    public void EveryChatOptionsFieldMapsToItsGenerationOption()
    {
        var options = new ChatOptions
        {
            MaxOutputTokens = 12, Temperature = 0.7f, TopP = 0.9f, TopK = 40, FrequencyPenalty = 0.5f, PresencePenalty = -1.5f,
            Seed = 1L << 40, StopSequences = ["\n\n", "User:"],
        };

        GenerationOptions mapped = Map(options);

        Assert.AreEqual(12, mapped.MaxNewTokens);
        Assert.AreEqual(0.7, mapped.Temperature, "the float's shortest decimal, not 0.699999988");
        Assert.AreEqual(0.9, mapped.TopP);
        Assert.AreEqual(40, mapped.TopK);
        Assert.AreEqual(0.5, mapped.FrequencyPenalty);
        Assert.AreEqual(-1.5, mapped.PresencePenalty);
        Assert.AreEqual(1L << 40, mapped.Seed);
        CollectionAssert.AreEqual(new[] { "\n\n", "User:" }, mapped.StopStrings.ToArray());
        Assert.AreEqual(0.25, mapped.MinP, "what ChatOptions does not set keeps the default");
        Assert.IsNull(mapped.LogProbabilities);
    }

    [TestMethod]
    public void NullOrEmptyOptionsKeepTheDefaults()
    {
        Assert.AreSame(Defaults, Map(null));
        Assert.AreEqual(Defaults, Map(new ChatOptions()));
    }

    public static IEnumerable<object[]> Numbers(double value) =>
    [
        [value], [(float)value], [(decimal)value], [Json(value.ToString(System.Globalization.CultureInfo.InvariantCulture))],
    ];

    public static IEnumerable<object[]> Integers(int value) =>
    [
        [value], [(long)value], [(double)value], [(float)value], [(decimal)value], [Json(value.ToString(System.Globalization.CultureInfo.InvariantCulture))],
        [Json(value.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".0")],
    ];

    public static IEnumerable<object[]> MinPs => Numbers(0.125);

    public static IEnumerable<object[]> RepetitionPenalties => [.. Numbers(1.5), [2], [2L]];

    public static IEnumerable<object[]> TopKs => Integers(5);

    public static IEnumerable<object[]> TopLogProbabilities => Integers(3);

    [TestMethod]
    [DynamicData(nameof(TopKs))]
    public void TopKIsReadFromEveryIntegerType(object value) => Assert.AreEqual(5, With(Gpt2ChatOptions.TopKKey, value).TopK);

    [TestMethod]
    [DataRow(-1)]
    [DataRow(0)]
    public void TopKOfMinusOneOrZeroMeansNoLimitAsInVllm(int value) =>
        Assert.IsNull(Gpt2ChatOptions.ToGenerationOptions(new ChatOptions { AdditionalProperties = new() { ["top_k"] = value } }, new GenerationOptions { TopK = 9 }).TopK);

    [TestMethod]
    [DynamicData(nameof(MinPs))]
    public void MinPIsReadFromEveryNumberType(object value) => Assert.AreEqual(0.125, With(Gpt2ChatOptions.MinPKey, value).MinP);

    [TestMethod]
    [DynamicData(nameof(RepetitionPenalties))]
    public void RepetitionPenaltyIsReadFromEveryNumberType(object value) =>
        Assert.AreEqual(Convert.ToDouble(value is JsonElement json ? json.GetDouble() : value, System.Globalization.CultureInfo.InvariantCulture),
            With(Gpt2ChatOptions.RepetitionPenaltyKey, value).RepetitionPenalty);

    public static IEnumerable<object[]> LogitBiases =>
    [
        [new Dictionary<int, double> { [11] = 100, [50256] = -100 }],
        [new Dictionary<long, int> { [11] = 100, [50256] = -100 }],
        [new Dictionary<string, float> { ["11"] = 100, ["50256"] = -100 }],
        [new Dictionary<string, object> { ["11"] = 100m, ["50256"] = Json("-100") }],
        [new ReadOnlyDictionary<int, double>(new Dictionary<int, double> { [11] = 100, [50256] = -100 })],
        [Json("""{"11": 100, "50256": -100}""")],
    ];

    [TestMethod]
    [DynamicData(nameof(LogitBiases))]
    public void LogitBiasIsReadFromDictionariesAndJsonObjects(object value)
    {
        IReadOnlyDictionary<int, double> bias = With(Gpt2ChatOptions.LogitBiasKey, value).LogitBias;
        Assert.HasCount(2, bias);
        Assert.AreEqual(100, bias[11]);
        Assert.AreEqual(-100, bias[50256]);
    }

    [TestMethod]
    public void LogprobsAsksForTheChosenTokenAndTopLogprobsForAlternatives()
    {
        Assert.AreEqual(0, With(Gpt2ChatOptions.LogProbabilitiesKey, true).LogProbabilities);
        Assert.AreEqual(0, With(Gpt2ChatOptions.LogProbabilitiesKey, Json("true")).LogProbabilities);
        Assert.IsNull(With(Gpt2ChatOptions.LogProbabilitiesKey, false).LogProbabilities);
        Assert.IsNull(Gpt2ChatOptions.ToGenerationOptions(new ChatOptions { AdditionalProperties = new() { ["logprobs"] = false } },
            new GenerationOptions { LogProbabilities = 4 }).LogProbabilities, "false turns off what the defaults asked for");
    }

    [TestMethod]
    [DynamicData(nameof(TopLogProbabilities))]
    public void TopLogprobsIsReadFromEveryIntegerType(object value) =>
        Assert.AreEqual(3, Map(new ChatOptions { AdditionalProperties = new() { ["logprobs"] = true, ["top_logprobs"] = value } }).LogProbabilities);

    [TestMethod]
    public void AJsonNullIsAsGoodAsAbsent() => Assert.AreEqual(Defaults.MinP, With(Gpt2ChatOptions.MinPKey, Json("null")).MinP);

    [TestMethod]
    public void AnUnknownAdditionalPropertyIsRefusedWithTheKnownOnes()
    {
        var error = Assert.ThrowsExactly<NotSupportedException>(() => With("num_ctx", 2048));

        StringAssert.Contains(error.Message, "'num_ctx'");
        foreach (string key in Gpt2ChatOptions.AdditionalPropertyKeys)
            StringAssert.Contains(error.Message, key);
        CollectionAssert.AreEquivalent(new[] { "top_k", "min_p", "repetition_penalty", "logit_bias", "logprobs", "top_logprobs" },
            Gpt2ChatOptions.AdditionalPropertyKeys.ToArray());
    }

    [TestMethod]
    [DataRow("top_k", "5", "an integer")]
    [DataRow("top_k", 2.5, "an integer")]
    [DataRow("min_p", "0.1", "a number")]
    [DataRow("min_p", true, "a number")]
    [DataRow("repetition_penalty", "1.2", "a number")]
    [DataRow("logprobs", 1, "a bool")]
    [DataRow("logprobs", "true", "a bool")]
    [DataRow("top_logprobs", 1.5, "an integer")]
    [DataRow("top_logprobs", "2", "an integer")]
    [DataRow("logit_bias", "11:100", "a map of token id to bias")]
    [DataRow("logit_bias", 100, "a map of token id to bias")]
    public void AValueOfTheWrongTypeIsRefusedNamingTheKeyAndTheType(string key, object value, string expected)
    {
        var properties = new AdditionalPropertiesDictionary { [key] = value };
        if (key == "top_logprobs")
            properties["logprobs"] = true;

        var error = Assert.ThrowsExactly<ArgumentException>(() => Map(new ChatOptions { AdditionalProperties = properties }));

        StringAssert.Contains(error.Message, $"AdditionalProperties['{key}']");
        StringAssert.Contains(error.Message, expected);
    }

    [TestMethod]
    public void WrongJsonTypesAndBadLogitBiasEntriesAreRefusedByName()
    {
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => With("min_p", Json("\"0.1\""))).Message, "AdditionalProperties['min_p'] is the JSON string");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => With("logit_bias", Json("""{"eleven": 5}"""))).Message, "a token id");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => With("logit_bias", Json("""{"11": "5"}"""))).Message,
            "AdditionalProperties['logit_bias'][11] is the JSON string");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => With("logit_bias", new Dictionary<double, double> { [1.5] = 1 })).Message, "a token id");
    }

    [TestMethod]
    public void TopLogprobsOutOfRangeOrWithoutLogprobsIsRefused()
    {
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() =>
            Map(new ChatOptions { AdditionalProperties = new() { ["logprobs"] = true, ["top_logprobs"] = 21 } }));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => With("top_k", -2));
        var alone = Assert.ThrowsExactly<ArgumentException>(() => With("top_logprobs", 2));
        StringAssert.Contains(alone.Message, "needs AdditionalProperties['logprobs'] = true");
    }

    [TestMethod]
    public void TwoDifferentTopKsAreRefusedButTheSameOneIsAccepted()
    {
        Assert.ThrowsExactly<ArgumentException>(() => Map(new ChatOptions { TopK = 5, AdditionalProperties = new() { ["top_k"] = 3 } }));
        Assert.AreEqual(5, Map(new ChatOptions { TopK = 5, AdditionalProperties = new() { ["top_k"] = 5 } }).TopK);
    }

    public static IEnumerable<object[]> Unsupported() =>
    [
        ["ConversationId", new ChatOptions { ConversationId = "c1" }],
        ["AllowBackgroundResponses", new ChatOptions { AllowBackgroundResponses = true }],
    ];

    [TestMethod]
    [DynamicData(nameof(Unsupported))]
    public void OptionsGpt2CannotHonourAreRefusedByName(string option, ChatOptions options) =>
        StringAssert.Contains(Assert.ThrowsExactly<NotSupportedException>(() => Map(options)).Message, $"ChatOptions.{option}");
}
