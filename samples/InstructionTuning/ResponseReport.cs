using Gpt2.Torch.Instructions;
using Microsoft.ML.Gpt2.Evaluation;

namespace InstructionTuning;

/// <summary>Scores the test responses: with the judge model when one answers, and always with the judge-free metrics.</summary>
internal static class ResponseReport
{
    public static async Task PrintAsync(IReadOnlyList<InstructionRow> rows, Uri judgeEndpoint, string judgeModel, CancellationToken cancellationToken)
    {
        double exact = rows.Average(r => ResponseMetrics.ExactMatch(r.Output, r.Response));
        double f1 = rows.Average(r => ResponseMetrics.TokenF1(r.Output, r.Response));
        Console.WriteLine($"Judge-free metrics over {rows.Count} test rows: exact match {exact:P1}, token F1 {f1:P1}.");

        using var judge = new OllamaJudge(judgeEndpoint, judgeModel);
        if (!await judge.IsReachableAsync(cancellationToken))
        {
            Console.WriteLine($"No judge answers at {judgeEndpoint} (start Ollama and `ollama pull {judgeModel}`, or pass --judge-url); " +
                "the scores above are the evaluation.");
            return;
        }
        var scores = new List<int>();
        foreach (InstructionRow row in rows)
        {
            string prompt = InstructionPromptFormat.Alpaca.FormatPrompt(row.Instruction, row.Input);
            if (await judge.ScoreAsync(prompt, row.Output, row.Response, cancellationToken) is int score)
                scores.Add(score);
            Console.Write($"\rJudging with {judgeModel}: {scores.Count} scored");
        }
        Console.WriteLine();
        Console.WriteLine(scores.Count == 0
            ? $"The judge gave no parsable score for any of the {rows.Count} responses."
            : $"Judge ({judgeModel}) score: {scores.Average():F2} / 100, {scores.Count} of {rows.Count} scores parsed.");
    }
}
