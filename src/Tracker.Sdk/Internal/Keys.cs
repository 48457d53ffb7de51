using System.Diagnostics.CodeAnalysis;

namespace Tracker.Internal;

/// <summary>The rules every logged key follows, with errors that say what to do.</summary>
internal static class Keys
{
    public const int MaxLength = 256;

    /// <summary>Validates a history or summary key. Keys starting with '_' are reserved for automatic values.</summary>
    public static void ValidateMetric([NotNull] string? key, string paramName = "key")
    {
        ValidateConfig(key, paramName);
        if (key[0] == '_')
        {
            throw new ArgumentException(
                $"Key '{key}' starts with '_', which is reserved for automatic values such as _step, _time and _runtime. Rename it, for example to '{key.TrimStart('_')}'.",
                paramName);
        }
    }

    /// <summary>Validates a config key: non-empty, at most 256 characters, no control characters.</summary>
    public static void ValidateConfig([NotNull] string? key, string paramName = "key")
    {
        if (key is null)
        {
            throw new ArgumentNullException(paramName, "A key must not be null.");
        }

        if (string.IsNullOrWhiteSpace(key))
        {
            throw new ArgumentException("A key must not be empty or whitespace. Give the value a name such as \"train/loss\".", paramName);
        }

        if (key.Length > MaxLength)
        {
            throw new ArgumentException(
                $"Key '{key[..40]}...' is {key.Length} characters long; keys may have at most {MaxLength}. Use a shorter name.",
                paramName);
        }

        foreach (var c in key)
        {
            if (char.IsControl(c))
            {
                throw new ArgumentException($"Key '{key}' contains a control character (U+{(int)c:X4}). Use printable characters only.", paramName);
            }
        }

        if (key[0] == '/' || key[^1] == '/' || key.Contains("//", StringComparison.Ordinal))
        {
            throw new ArgumentException($"Key '{key}' has an empty path segment; '/' separates non-empty parts, as in \"train/loss\".", paramName);
        }
    }
}
