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
    run.Log(new Dictionary<string, object?>
    {
        ["epoch"] = epoch,
        ["train/loss"] = trainLoss,
        ["train/accuracy"] = trainAccuracy,
        ["val/loss"] = valLoss,
        ["val/accuracy"] = valAccuracy,
    });

    if (epoch == 1 || epoch % 50 == 0)
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
