using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Gpt2.Torch.Training;

/// <summary>
/// AdamW (Loshchilov and Hutter) with GPT-2's parameter grouping: weight decay on matrices (linear and embedding
/// weights), none on biases and LayerNorm parameters. Updates in place with one temporary per parameter (on the CPU,
/// per cache-sized chunk of it), so a step reads and writes each parameter's state as few times as the algorithm allows.
/// </summary>
internal sealed class AdamW : IDisposable
{
    private readonly (string Name, Parameter Parameter, bool Decay, Tensor Mean, Tensor Variance)[] _parameters;

    /// <summary>Creates the optimizer over the trainable (requires_grad) parameters among <paramref name="parameters"/>.</summary>
    public AdamW(IEnumerable<(string Name, Parameter Parameter)> parameters, double learningRate = 1e-3, double weightDecay = 0.01,
        double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        OptionChecks.NonNegative(weightDecay, nameof(weightDecay), "0.01");
        OptionChecks.BelowOne(beta1, nameof(beta1), "0.9");
        OptionChecks.BelowOne(beta2, nameof(beta2), "0.999");
        OptionChecks.NonNegative(epsilon, nameof(epsilon), "1e-8");
        LearningRate = learningRate;
        WeightDecay = weightDecay;
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        _parameters = [.. parameters.Where(p => p.Parameter.requires_grad).Select(p => (
            p.Name, p.Parameter, p.Parameter.dim() >= 2,
            zeros_like(p.Parameter).DetachFromDisposeScope(), zeros_like(p.Parameter).DetachFromDisposeScope()))];
    }

    /// <summary>The learning rate of the next step (schedules set it before each step); finite and 0 or above.</summary>
    public double LearningRate
    {
        get;
        set
        {
            OptionChecks.NonNegative(value, nameof(LearningRate), "1e-3");
            field = value;
        }
    }

    /// <summary>Decoupled weight decay applied to matrices.</summary>
    public double WeightDecay { get; }

    /// <summary>Decay of the gradient's running mean.</summary>
    public double Beta1 { get; }

    /// <summary>Decay of the gradient's running uncentred variance.</summary>
    public double Beta2 { get; }

    /// <summary>Added to the denominator for numerical stability.</summary>
    public double Epsilon { get; }

    /// <summary>Steps taken so far.</summary>
    public long StepCount { get; private set; }

    /// <summary>The parameters the optimizer updates (those that required gradients when it was created).</summary>
    public IEnumerable<Parameter> Parameters => _parameters.Select(p => p.Parameter);

    /// <summary>Names of the parameters that receive weight decay.</summary>
    public IEnumerable<string> DecayedParameterNames => _parameters.Where(p => p.Decay).Select(p => p.Name);

    /// <summary>Sets every gradient to zero, in place (keeping the buffers avoids re-allocating them each step).</summary>
    public void ZeroGrad()
    {
        foreach (var entry in _parameters)
            entry.Parameter.grad?.zero_();
    }

    /// <summary>Updates every parameter that has a gradient.</summary>
    public void Step()
    {
        StepCount++;
        double correction1 = 1 - Math.Pow(Beta1, StepCount);
        double sqrtCorrection2 = Math.Sqrt(1 - Math.Pow(Beta2, StepCount));
        // lr * m_hat / (sqrt(v_hat) + eps) == (lr * sqrt(c2) / c1) * m / (sqrt(v) + eps * sqrt(c2))
        double stepSize = LearningRate * sqrtCorrection2 / correction1;
        double scaledEpsilon = Epsilon * sqrtCorrection2;

        using var noGrad = no_grad();
        foreach ((_, Parameter parameter, bool decay, Tensor mean, Tensor variance) in _parameters)
        {
            Tensor? gradient = parameter.grad;
            if (gradient is null)
                continue;
            double decayFactor = decay && WeightDecay > 0 ? 1 - LearningRate * WeightDecay : 1;
            long count = parameter.numel(), chunk = ChunkElements(parameter);
            if (count <= chunk || !parameter.is_contiguous() || !gradient.is_contiguous())
            {
                Update(parameter, gradient, mean, variance, decayFactor, stepSize, scaledEpsilon);
                continue;
            }
            using var scope = NewDisposeScope();
            Tensor flatParameter = parameter.view(-1), flatGradient = gradient.view(-1), flatMean = mean.view(-1), flatVariance = variance.view(-1);
            for (long start = 0; start < count; start += chunk)
            {
                using var chunkScope = NewDisposeScope();
                long length = Math.Min(chunk, count - start);
                Update(flatParameter.narrow(0, start, length), flatGradient.narrow(0, start, length), flatMean.narrow(0, start, length),
                    flatVariance.narrow(0, start, length), decayFactor, stepSize, scaledEpsilon);
            }
        }
    }

    // The elementwise update of one parameter, or of one chunk of it (each chunk's passes run while it is in the cache).
    private void Update(Tensor parameter, Tensor gradient, Tensor mean, Tensor variance, double decayFactor, double stepSize, double scaledEpsilon)
    {
        using var scope = NewDisposeScope();   // the in-place operations return handles of their own
        if (decayFactor != 1)
            parameter.mul_(decayFactor);
        mean.lerp_(gradient, 1 - Beta1);
        variance.mul_(Beta2).addcmul_(gradient, gradient, 1 - Beta2);
        Tensor denominator = variance.sqrt().add_(scaledEpsilon);
        parameter.addcdiv_(mean, denominator, -stepSize);
    }

    /// <summary>
    /// Elements updated together. On the CPU, a large parameter goes in chunks small enough that the update's seven
    /// elementwise passes find the chunk in the cache (one trip through memory instead of seven); on a GPU, where each
    /// pass is a kernel launch and memory is fast, a parameter goes whole.
    /// </summary>
    private static long ChunkElements(Tensor parameter) => parameter.device_type == DeviceType.CPU ? CpuChunkElements : long.MaxValue;

    internal const long CpuChunkElements = 1 << 18;

    /// <summary>
    /// Points the optimizer at other parameter objects of the same names and shapes (a model converted to another
    /// precision gets new ones), keeping the moments and the step count.
    /// </summary>
    internal void Retarget(IEnumerable<(string Name, Parameter Parameter)> parameters)
    {
        Dictionary<string, Parameter> byName = parameters.ToDictionary(p => p.Name, p => p.Parameter);
        for (int i = 0; i < _parameters.Length; i++)
        {
            var entry = _parameters[i];
            // The moments have the parameter's shape; the parameter object itself may be freed already.
            if (!byName.TryGetValue(entry.Name, out Parameter? replacement) || !replacement.shape.SequenceEqual(entry.Mean.shape))
                throw new ArgumentException($"The new parameters have no '{entry.Name}' of shape [{string.Join(", ", entry.Mean.shape)}].", nameof(parameters));
            _parameters[i] = entry with { Parameter = replacement };
        }
    }

    /// <summary>The optimizer's state tensors by name (<c>NAME.exp_avg</c>, <c>NAME.exp_avg_sq</c>), for checkpoints.</summary>
    public IEnumerable<(string Name, Tensor Tensor)> StateTensors() =>
        _parameters.SelectMany(p => new[] { ($"{p.Name}.exp_avg", p.Mean), ($"{p.Name}.exp_avg_sq", p.Variance) });

    /// <summary>Restores the state written by <see cref="StateTensors"/> and the step count.</summary>
    public void LoadState(IReadOnlyDictionary<string, Tensor> state, long stepCount)
    {
        using var noGrad = no_grad();
        foreach ((string name, Tensor tensor) in StateTensors())
        {
            if (!state.TryGetValue(name, out Tensor? saved) || !saved.shape.SequenceEqual(tensor.shape))
                throw new ArgumentException($"The optimizer state has no tensor '{name}' of shape [{string.Join(", ", tensor.shape)}]; it belongs to another model.");
            tensor.copy_(saved);
        }
        StepCount = stepCount;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var entry in _parameters)
        {
            entry.Mean.Dispose();
            entry.Variance.Dispose();
        }
    }
}
