// Fits y = sin(3x) + x/2 with a 1-32-32-1 network and Adam, tracking the loss and watching the
// gradients. Needs libtorch: dotnet run --project samples/TorchSharp -p:WithLibTorch=true
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
var model = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1));
const double LearningRate = 0.01;
var optimizer = optim.Adam(model.parameters(), LearningRate);

await using var run = Run.Init(project: "torchsharp-fit", config: new { hidden = 32, layers = 2, lr = LearningRate, epochs = 500 }, tags: ["sample", "torchsharp"]);
using var watch = run.Watch(model, logEvery: 50);
for (var epoch = 0; epoch < 500; epoch++)
{
    optimizer.zero_grad();
    using var loss = nn.functional.mse_loss(model.forward(x), y);
    loss.backward();
    watch.Step();
    optimizer.step();
    run.Log("train/loss", loss);
}

Console.WriteLine($"Run written to {run.Directory}");
return 0;
