// Fits y = sin(3x) + x/2 with a 1-32-32-1 network and Adam, tracking the loss, watching the
// gradients (with histograms), logging the residuals as a histogram and the hidden layer's weights
// as an image. Needs libtorch: dotnet run --project samples/TorchSharp -p:WithLibTorch=true
using Tracker;
using static TorchSharp.torch;

try
{
    _ = ones(1);
}
catch (TypeInitializationException ex)
{
    Console.Error.WriteLine($"libtorch could not be loaded ({ex.InnerException?.Message ?? ex.Message}). Run with -p:WithLibTorch=true to add TorchSharp-cpu, on a machine it supports.");
    return 1;
}

manual_seed(7);
var x = linspace(-2, 2, 512).unsqueeze(1);
var y = sin(3 * x) + (x / 2);
var hidden = nn.Linear(32, 32);
var model = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), hidden, nn.Tanh(), nn.Linear(32, 1));
const double LearningRate = 0.01;
var optimizer = optim.Adam(model.parameters(), LearningRate);

await using var run = Run.Init(project: "torchsharp-fit", config: new { hidden = 32, layers = 2, lr = LearningRate, epochs = 500 }, tags: ["sample", "torchsharp"]);
using var watch = run.Watch(model, logEvery: 50, histograms: true);
for (var epoch = 0; epoch < 500; epoch++)
{
    optimizer.zero_grad();
    using var prediction = model.forward(x);
    using var loss = nn.functional.mse_loss(prediction, y);
    loss.backward();
    watch.Step();
    optimizer.step();
    if (epoch % 50 == 0)
    {
        using var residuals = prediction - y;
        run.Log("train/residuals", residuals.ToHistogram(), commit: false); // joins this step's loss
    }

    run.Log("train/loss", loss);
}

using (no_grad())
{
    var weight = hidden.weight!;
    using var scaled = (weight - weight.min()) / (weight.max() - weight.min()); // an image's floats are [0, 1]
    run.Log("weights/hidden", scaled.ToImage(caption: "hidden layer weights, 32 × 32"));
}

Console.WriteLine($"Run written to {run.Directory}");
return 0;
