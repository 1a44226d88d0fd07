using System.Globalization;

namespace Gpt2.Torch;

/// <summary>
/// The one place option checks live, in one message style: the option's name as the caller set it, the value given,
/// what it must be, and an example or the fix. The numeric checks throw <see cref="ArgumentOutOfRangeException"/> and
/// reject NaN and infinities (which plain comparisons let through); <see cref="Requires"/> throws
/// <see cref="ArgumentException"/> for options that contradict each other.
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

    /// <summary>Throws unless <paramref name="value"/> is in the open interval (0, 1).</summary>
    public static void BetweenZeroAndOne(double value, string name, string example)
    {
        if (!(value > 0 && value < 1))
            throw Fail(name, value, "between 0 and 1, both excluded", example);
    }

    /// <summary>Throws unless <paramref name="value"/> is at least <paramref name="minimum"/>.</summary>
    public static void AtLeast(long value, long minimum, string name, string example)
    {
        if (value < minimum)
            throw Fail(name, value, $"at least {minimum}", example);
    }

    /// <summary>Throws unless <paramref name="value"/> is in [<paramref name="minimum"/>, <paramref name="maximum"/>].</summary>
    public static void InRange(long value, long minimum, long maximum, string name, string example)
    {
        if (value < minimum || value > maximum)
            throw Fail(name, value, $"from {minimum} to {maximum}", example);
    }

    /// <summary>Throws unless <paramref name="value"/> is one of <typeparamref name="TEnum"/>'s named values.</summary>
    public static void Defined<TEnum>(TEnum value, string name) where TEnum : struct, Enum
    {
        if (!Enum.IsDefined(value))
            throw new ArgumentOutOfRangeException(name, value,
                $"{name} is {value}; it must be one of {string.Join(", ", Enum.GetNames<TEnum>())}.");
    }

    /// <summary>
    /// Throws <see cref="ArgumentOutOfRangeException"/> unless <paramref name="condition"/> holds, saying that
    /// <paramref name="name"/> is <paramref name="value"/> and what it <paramref name="mustBe"/> (with the fix).
    /// </summary>
    public static void Check(bool condition, string name, object value, string mustBe)
    {
        if (!condition)
            throw new ArgumentOutOfRangeException(name, value, $"{name} is {Convert.ToString(value, CultureInfo.InvariantCulture)}; it must be {mustBe}.");
    }

    /// <summary>Throws <see cref="ArgumentException"/> with <paramref name="message"/> (which names the options and the fix) unless <paramref name="condition"/> holds.</summary>
    public static void Requires(bool condition, string name, string message)
    {
        if (!condition)
            throw new ArgumentException(message, name);
    }

    private static ArgumentOutOfRangeException Fail(string name, double value, string range, string example) =>
        new(name, value, $"{name} is {value.ToString("R", CultureInfo.InvariantCulture)}; it must be {range} (for example {example}).");

    private static ArgumentOutOfRangeException Fail(string name, long value, string range, string example) =>
        new(name, value, $"{name} is {value.ToString(CultureInfo.InvariantCulture)}; it must be {range} (for example {example}).");
}
