namespace QuickStart;

/// <summary>
/// A 2 -> hidden (tanh) -> 1 (sigmoid) network for binary classification, trained with Adam
/// on the binary cross-entropy loss.
/// </summary>
internal sealed class TwoLayerNetwork
{
    private const double Beta1 = 0.9;
    private const double Beta2 = 0.999;
    private const double Epsilon = 1e-8;

    private readonly int _hidden;

    // All parameters live in one flat array so that the optimizer is a single loop.
    // Layout: input weights (hidden x 2), hidden biases, output weights, output bias.
    private readonly double[] _parameters;
    private readonly double[] _gradients;
    private readonly double[] _firstMoment;
    private readonly double[] _secondMoment;

    // Hidden activations of the last Predict call, reused by backpropagation to avoid allocating per sample.
    private readonly double[] _activations;
    private int _updates;

    public TwoLayerNetwork(int hidden, Random random)
    {
        _hidden = hidden;
        var count = (hidden * 2) + hidden + hidden + 1;
        _parameters = new double[count];
        _gradients = new double[count];
        _firstMoment = new double[count];
        _secondMoment = new double[count];
        _activations = new double[hidden];

        // Glorot-uniform weights keep tanh out of saturation at the start; biases start at zero.
        var inputLimit = Math.Sqrt(6.0 / (2 + hidden));
        var outputLimit = Math.Sqrt(6.0 / (hidden + 1));
        for (var i = 0; i < hidden * 2; i++)
        {
            _parameters[i] = ((random.NextDouble() * 2) - 1) * inputLimit;
        }

        for (var j = 0; j < hidden; j++)
        {
            _parameters[OutputWeight(j)] = ((random.NextDouble() * 2) - 1) * outputLimit;
        }
    }

    /// <summary>The probability that <paramref name="sample"/> belongs to class 1.</summary>
    public double Predict(Sample sample)
    {
        var logit = _parameters[OutputBias];
        for (var j = 0; j < _hidden; j++)
        {
            _activations[j] = Math.Tanh(
                (_parameters[2 * j] * sample.X) + (_parameters[(2 * j) + 1] * sample.Y) + _parameters[HiddenBias(j)]);
            logit += _parameters[OutputWeight(j)] * _activations[j];
        }

        return 1 / (1 + Math.Exp(-logit));
    }

    /// <summary>Takes one Adam step on the mean loss of <paramref name="batch"/>.</summary>
    public void TrainStep(ReadOnlySpan<Sample> batch, double learningRate)
    {
        Array.Clear(_gradients);
        foreach (var sample in batch)
        {
            // For sigmoid + cross-entropy the loss gradient at the logit is simply p - y.
            var delta = (Predict(sample) - sample.Label) / batch.Length;
            _gradients[OutputBias] += delta;
            for (var j = 0; j < _hidden; j++)
            {
                _gradients[OutputWeight(j)] += delta * _activations[j];
                var hiddenDelta = delta * _parameters[OutputWeight(j)] * (1 - (_activations[j] * _activations[j]));
                _gradients[2 * j] += hiddenDelta * sample.X;
                _gradients[(2 * j) + 1] += hiddenDelta * sample.Y;
                _gradients[HiddenBias(j)] += hiddenDelta;
            }
        }

        _updates++;
        var correction1 = 1 - Math.Pow(Beta1, _updates);
        var correction2 = 1 - Math.Pow(Beta2, _updates);
        for (var i = 0; i < _parameters.Length; i++)
        {
            _firstMoment[i] = (Beta1 * _firstMoment[i]) + ((1 - Beta1) * _gradients[i]);
            _secondMoment[i] = (Beta2 * _secondMoment[i]) + ((1 - Beta2) * _gradients[i] * _gradients[i]);
            _parameters[i] -= learningRate * (_firstMoment[i] / correction1) / (Math.Sqrt(_secondMoment[i] / correction2) + Epsilon);
        }
    }

    /// <summary>Mean binary cross-entropy and accuracy over <paramref name="samples"/>.</summary>
    public (double Loss, double Accuracy) Evaluate(ReadOnlySpan<Sample> samples)
    {
        // Clamping keeps log(0) out of the loss when the network is confidently right.
        const double Floor = 1e-12;
        double loss = 0;
        var correct = 0;
        foreach (var sample in samples)
        {
            var p = Math.Clamp(Predict(sample), Floor, 1 - Floor);
            loss -= sample.Label == 1 ? Math.Log(p) : Math.Log(1 - p);
            if ((p >= 0.5 ? 1 : 0) == sample.Label)
            {
                correct++;
            }
        }

        return (loss / samples.Length, (double)correct / samples.Length);
    }

    private int HiddenBias(int j) => (_hidden * 2) + j;

    private int OutputWeight(int j) => (_hidden * 3) + j;

    private int OutputBias => _hidden * 4;
}
