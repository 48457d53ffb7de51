// House prices from size, rooms and age (generated, with noise): FastTree and SDCA each trained,
// evaluated and cross-validated in a run of their own, with the model file kept in the run.
using Microsoft.ML;
using Microsoft.ML.Data;
using Tracker;

var ml = new MLContext(seed: 7);
var data = ml.Data.LoadFromEnumerable(Houses(5000, seed: 7));
var split = ml.Data.TrainTestSplit(data, testFraction: 0.2, seed: 7);
var features = ml.Transforms.Concatenate("Features", nameof(House.Size), nameof(House.Rooms), nameof(House.Age))
    .Append(ml.Transforms.NormalizeMinMax("Features"));

var trainers = new (string Name, object Config, IEstimator<ITransformer> Trainer)[]
{
    ("fasttree", new { trainer = "FastTree", leaves = 20, trees = 100, learningRate = 0.2 },
        ml.Regression.Trainers.FastTree(numberOfLeaves: 20, numberOfTrees: 100, learningRate: 0.2)),
    ("sdca", new { trainer = "SDCA", l2 = 0.01, maxIterations = 100 },
        ml.Regression.Trainers.Sdca(l2Regularization: 0.01f, maximumNumberOfIterations: 100)),
};

foreach (var (name, config, trainer) in trainers)
{
    await using var run = Run.Init(project: "mlnet-houses", name: name, config: config, tags: ["sample", "mlnet"]);
    using (run.ConnectLog(ml, Microsoft.ML.Runtime.ChannelMessageKind.Warning))
    {
        var pipeline = features.Append(trainer);
        var model = pipeline.Fit(split.TrainSet);
        var metrics = ml.Regression.Evaluate(model.Transform(split.TestSet));
        run.LogMetrics(metrics, "test");
        run.LogCrossValidation(ml.Regression.CrossValidate(data, pipeline, numberOfFolds: 5, seed: 7), "cv");

        var modelPath = Path.Combine(run.Directory!, "files", "model.zip");
        ml.Model.Save(model, data.Schema, modelPath);
        run.Summary["model_bytes"] = new FileInfo(modelPath).Length;
        Console.WriteLine($"{name}: test R² {metrics.RSquared:F4}, RMSE {metrics.RootMeanSquaredError:F1}; model saved to {modelPath}");
    }
}

static IEnumerable<House> Houses(int count, int seed)
{
    var random = new Random(seed);
    for (var i = 0; i < count; i++)
    {
        var size = 40 + (random.NextSingle() * 160);
        var rooms = 1 + random.Next(6);
        var age = random.NextSingle() * 80;
        var noise = (random.NextSingle() - 0.5f) * 40;
        yield return new House { Size = size, Rooms = rooms, Age = age, Price = (2.5f * size) + (15 * rooms) - (0.8f * age) + (0.01f * size * size) + noise };
    }
}

internal sealed class House
{
    public float Size { get; set; }

    public float Rooms { get; set; }

    public float Age { get; set; }

    [ColumnName("Label")]
    public float Price { get; set; }
}
