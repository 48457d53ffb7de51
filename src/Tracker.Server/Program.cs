using Tracker.Server;

return await ServerApp.RunAsync(args);
