using System.Diagnostics;
using System.Globalization;
using QuickStart;
using Tracker;

// Hyper-parameters: every value here goes into the run's config, so the run describes the code exactly.
const int Seed = 42;
const int Points = 1000;
const double Turns = 1.5;
const double Noise = 0.02;
const double ValidationFraction = 0.2;
const int Hidden = 16;
const double LearningRate = 0.05;
const int Epochs = 300;
const int BatchSize = 32;

await using var run = Run.Init(
    project: "quickstart",
    config: new
    {
        dataset = "two-spirals",
        points = Points,
        turns = Turns,
        noise = Noise,
        validationFraction = ValidationFraction,
        hidden = Hidden,
        activation = "tanh",
        optimizer = "adam",
        learningRate = LearningRate,
        epochs = Epochs,
        batchSize = BatchSize,
        seed = Seed,
    },
    tags: ["sample"]);

// The summary keeps each metric's best value rather than its last one.
run.DefineMetric("val/accuracy", summary: SummaryMode.Max, goal: MetricGoal.Maximize);
run.DefineMetric("val/loss", summary: SummaryMode.Min, goal: MetricGoal.Minimize);

Console.WriteLine($"Run {run.Name} ({run.Id}): training a {Hidden}-unit network on two spirals");

// One generator, seeded once, makes the data, the split, the weights and the batch order reproducible.
var random = new Random(Seed);
var samples = TwoSpirals.Generate(Points, Turns, Noise, random);
random.Shuffle(samples);
var validationCount = (int)(Points * ValidationFraction);
var validation = samples[..validationCount];
var train = samples[validationCount..];

var network = new TwoLayerNetwork(Hidden, random);
var stopwatch = Stopwatch.StartNew();
for (var epoch = 1; epoch <= Epochs; epoch++)
{
    random.Shuffle(train);
    for (var start = 0; start < train.Length; start += BatchSize)
    {
        network.TrainStep(train.AsSpan(start, Math.Min(BatchSize, train.Length - start)), LearningRate);
    }

    // Both sets are scored after the epoch's updates, so train and val numbers are comparable.
    var (trainLoss, trainAccuracy) = network.Evaluate(train);
    var (valLoss, valAccuracy) = network.Evaluate(validation);

    // One dictionary per epoch makes one history row holding all metrics of that epoch.
    var values = new Dictionary<string, object?>
    {
        ["epoch"] = epoch,
        ["train/loss"] = trainLoss,
        ["train/accuracy"] = trainAccuracy,
        ["val/loss"] = valLoss,
        ["val/accuracy"] = valAccuracy,
    };

    var report = epoch == 1 || epoch % 50 == 0;
    if (report)
    {
        // Media at the same step: what the network draws, and how sure it is.
        values["val/decision_boundary"] = DecisionBoundary(network, validation, caption: $"epoch {epoch}: class 1 blue, class 0 orange");
        values["val/predictions"] = Histogram.FromValues(validation.Select(network.Predict).ToArray(), bins: 20);
    }

    run.Log(values);
    if (report)
    {
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"epoch {epoch,3}  train loss {trainLoss:F4} acc {trainAccuracy:F3}  val loss {valLoss:F4} acc {valAccuracy:F3}"));
    }
}

// Values that are not a metric's history can still be set on the summary directly.
run.Summary["train/seconds"] = Math.Round(stopwatch.Elapsed.TotalSeconds, 3);

await run.FinishAsync();
Console.WriteLine($"Run written to {run.Directory}");

// The network's probability over the plane as a 128 × 128 image, with the validation points on top.
static Image DecisionBoundary(TwoLayerNetwork network, Sample[] points, string caption)
{
    const int Size = 128;
    var pixels = new byte[Size * Size * 3];
    static int Pixel(double coordinate) => (int)((coordinate + 1.1) / 2.2 * Size);
    for (var y = 0; y < Size; y++)
    {
        for (var x = 0; x < Size; x++)
        {
            var p = network.Predict(new Sample(((x + 0.5) / Size * 2.2) - 1.1, 1.1 - ((y + 0.5) / Size * 2.2), 0));
            var i = ((y * Size) + x) * 3;
            (pixels[i], pixels[i + 1], pixels[i + 2]) = ((byte)(255 - (p * 120)), (byte)(235 - (p * 60)), (byte)(200 + (p * 55)));
        }
    }

    foreach (var point in points)
    {
        var (x, y) = (Pixel(point.X), Size - 1 - Pixel(point.Y));
        if (x is >= 0 and < Size && y is >= 0 and < Size)
        {
            var i = ((y * Size) + x) * 3;
            (pixels[i], pixels[i + 1], pixels[i + 2]) = point.Label == 1 ? ((byte)40, (byte)80, (byte)220) : ((byte)230, (byte)110, (byte)20);
        }
    }

    return Image.FromPixels(pixels, Size, Size, channels: 3, caption);
}
