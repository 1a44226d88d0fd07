using System.Globalization;

namespace Gpt2.Torch;

/// <summary>
/// The one place the options' numeric checks live: each throws <see cref="ArgumentOutOfRangeException"/> naming the
/// option, the value given, the allowed range and an example, and each rejects NaN and infinities (which plain
/// comparisons let through).
/// </summary>
internal static class OptionChecks
{
    /// <summary>Throws unless <paramref name="value"/> is finite and above 0.</summary>
    public static void Positive(double value, string name, string example)
    {
        if (!(double.IsFinite(value) && value > 0))
            throw Fail(name, value, "a finite number above 0", example);
    }

    /// <summary>Throws unless <paramref name="value"/> is finite and at least 0.</summary>
    public static void NonNegative(double value, string name, string example)
    {
        if (!(double.IsFinite(value) && value >= 0))
            throw Fail(name, value, "a finite number, 0 or above", example);
    }

    /// <summary>Throws unless <paramref name="value"/> is finite and not 0.</summary>
    public static void FiniteNonZero(double value, string name, string example)
    {
        if (!(double.IsFinite(value) && value != 0))
            throw Fail(name, value, "a finite number other than 0", example);
    }

    /// <summary>Throws unless <paramref name="value"/> is in (0, 1].</summary>
    public static void Fraction(double value, string name, string example)
    {
        if (!(value > 0 && value <= 1))
            throw Fail(name, value, "in (0, 1]", example);
    }

    /// <summary>Throws unless <paramref name="value"/> is in [0, 1).</summary>
    public static void BelowOne(double value, string name, string example)
    {
        if (!(value >= 0 && value < 1))
            throw Fail(name, value, "in [0, 1)", example);
    }

    /// <summary>Throws unless <paramref name="value"/> is at least <paramref name="minimum"/>.</summary>
    public static void AtLeast(long value, long minimum, string name)
    {
        if (value < minimum)
            throw new ArgumentOutOfRangeException(name, value, $"{name} is {value}; it must be at least {minimum}.");
    }

    private static ArgumentOutOfRangeException Fail(string name, double value, string range, string example) =>
        new(name, value, $"{name} is {value.ToString("R", CultureInfo.InvariantCulture)}; it must be {range} (for example {example}).");
}
