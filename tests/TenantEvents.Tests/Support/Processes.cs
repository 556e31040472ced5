using System.Diagnostics;

namespace TenantEvents.Tests.Support;

/// <summary>A program run to its end (openssl, curl, helm, node, git, the backup scripts): its exit code and what it wrote.</summary>
public static class Processes
{
    public sealed record Result(int Exit, string Output, string Error);

    public static async Task<Result> RunAsync(string file, IEnumerable<string> arguments, string? directory = null, string? input = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = input is not null,
            WorkingDirectory = directory ?? "",
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} could not be started");
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
            process.StandardInput.Close();
        }
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return new Result(process.ExitCode, await output, await error);
    }
}
