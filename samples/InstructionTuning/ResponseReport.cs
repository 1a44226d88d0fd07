using Gpt2.Torch.Instructions;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.AI.Evaluation;
using Microsoft.ML.Gpt2.Evaluation;

namespace InstructionTuning;

/// <summary>Scores the test responses: with the judge model when one answers, and always with the judge-free metrics.</summary>
internal static class ResponseReport
{
    public static async Task PrintAsync(IReadOnlyList<InstructionRow> rows, JudgeClient judge, CancellationToken cancellationToken)
    {
        double exact = rows.Average(r => ResponseMetrics.ExactMatch(r.Output, r.Response));
        double f1 = rows.Average(r => ResponseMetrics.TokenF1(r.Output, r.Response));
        Console.WriteLine($"Judge-free metrics over {rows.Count} test rows: exact match {exact:P1}, token F1 {f1:P1}.");

        var evaluator = new ResponseJudgeEvaluator(judge.ContextSize);
        var configuration = new ChatConfiguration(judge.Client);
        var scores = new List<double>();
        foreach (InstructionRow row in rows)
        {
            string prompt = InstructionPromptFormat.Alpaca.FormatPrompt(row.Instruction, row.Input);
            EvaluationResult result;
            try
            {
                result = await evaluator.EvaluateAsync([new ChatMessage(ChatRole.User, prompt)], new ChatResponse(new ChatMessage(ChatRole.Assistant, row.Response)),
                    configuration, [new ReferenceResponseContext(row.Output)], cancellationToken);
            }
            catch (Exception e) when (scores.Count == 0 && e is not OperationCanceledException)
            {
                Console.WriteLine($"No judge answers: {judge.Description} ({e.Message}); {judge.Hint}. The scores above are the evaluation.");
                return;
            }
            if (result.Get<NumericMetric>(ResponseJudgeEvaluator.ScoreMetricName).Value is double score)
                scores.Add(score);
            Console.Write($"\rJudging with {judge.Description}: {scores.Count} scored");
        }
        Console.WriteLine();
        Console.WriteLine(scores.Count == 0
            ? $"The judge gave no parsable score for any of the {rows.Count} responses."
            : $"Judge ({judge.Description}) score: {scores.Average():F2} / 100, {scores.Count} of {rows.Count} scores parsed.");
    }
}
