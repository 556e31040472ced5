using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using TenantEvents.Ledger;

namespace TenantEvents.Cli;

/// <summary>
/// tenantevents-audit verify --bundle FILE --key VKEY|@FILE [--key ...] [--trusted-checkpoint FILE]
///   (@FILE: a file holding the verifier key, or the service's GET /api/audit/log-key answer)
///   Verifies an export bundle offline: checkpoint signatures, the checkpoint chain, every entry against its leaf, the
///   roots; prints the first bad entry. Exit 0 verified, 1 not verified, 2 usage or unreadable input.
/// tenantevents-audit replay --bundle FILE --stream ID [--version N | --at ISO-TIME] [--json]
///   Rebuilds a stream's state as of a version or time from the bundle's audit entries, applying each entry's JSON
///   Patch in turn (and checking that it leads to the recorded state), and prints the history with the diffs.
/// </summary>
public static class Program
{
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        var command = args.Length > 0 && args[0] == "audit" ? args.Skip(1).ToArray() : args;
        if (command.Length == 0 || command[0] is "-h" or "--help" or "help")
        {
            output.WriteLine(Usage);
            return command.Length == 0 ? 2 : 0;
        }
        var options = Options(command.Skip(1).ToArray(), out var bad);
        if (bad is not null) { error.WriteLine(bad); error.WriteLine(Usage); return 2; }
        try
        {
            return command[0] switch
            {
                "verify" => Verify(options, output, error),
                "replay" => Replay(options, output, error),
                _ => Fail(error, $"Unknown command '{command[0]}'.\n{Usage}"),
            };
        }
        catch (Exception e) when (e is IOException or JsonException or FormatException or UnauthorizedAccessException)
        {
            return Fail(error, e.Message);
        }
    }

    public const string Usage = """
        usage: tenantevents-audit verify --bundle FILE --key VKEY|@FILE [--key ...] [--trusted-checkpoint FILE] [--json]
               tenantevents-audit replay --bundle FILE --stream ID [--version N | --at ISO-8601] [--json]
        """;

    private static int Fail(TextWriter error, string message)
    {
        error.WriteLine(message);
        return 2;
    }

    private static Dictionary<string, List<string>> Options(string[] args, out string? bad)
    {
        bad = null;
        var options = new Dictionary<string, List<string>>();
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) { bad = $"Unexpected argument '{args[i]}'."; return options; }
            var name = args[i][2..];
            var value = name == "json" ? "true" : i + 1 < args.Length ? args[++i] : null;
            if (value is null) { bad = $"--{name} needs a value."; return options; }
            (options.TryGetValue(name, out var list) ? list : options[name] = []).Add(value);
        }
        return options;
    }

    private static string? One(Dictionary<string, List<string>> o, string name) => o.TryGetValue(name, out var v) ? v[^1] : null;

    private static AuditBundle LoadBundle(string path)
    {
        using var stream = File.OpenRead(path);
        return JsonSerializer.Deserialize<AuditBundle>(stream, AuditBundle.Json) ?? throw new FormatException("The bundle is empty.");
    }

    private static int Verify(Dictionary<string, List<string>> o, TextWriter output, TextWriter error)
    {
        if (One(o, "bundle") is not { } bundlePath) return Fail(error, "verify needs --bundle FILE.");
        if (!o.TryGetValue("key", out var keyArgs)) return Fail(error, "verify needs --key: the platform's audit log key (GET /api/audit/log-key), or @file.");
        // A key is given as its verifier string, or @file holding that string or the service's GET /api/audit/log-key answer.
        static string KeyText(string arg)
        {
            if (!arg.StartsWith('@')) return arg;
            var text = File.ReadAllText(arg[1..]).Trim();
            return text.StartsWith('{') && JsonNode.Parse(text)?["verifierKey"]?.GetValue<string>() is { } vkey ? vkey : text;
        }
        var keys = keyArgs.Select(k => NoteKey.ParseVerifier(KeyText(k))).ToList();
        var trusted = One(o, "trusted-checkpoint") is { } t ? File.ReadAllText(t) : null;
        // With several keys (a rotated log key), a checkpoint verifies under any of them.
        var report = keys.Select(k => BundleVerifier.VerifyFile(bundlePath, k, trusted)).OrderBy(r => r.Problems.Count(p => p.Kind == "checkpoint-signature")).First();
        var origin = report.Origin;
        if (One(o, "json") is not null)
        {
            output.WriteLine(JsonSerializer.Serialize(report, AuditBundle.Json));
            return report.Verified ? 0 : 1;
        }
        output.WriteLine($"log {origin}: {report.Entries} entries, {report.Checkpoints} signed checkpoints" +
                         (report.SignedSize is { } s ? $", latest signed size {s}" : ""));
        foreach (var w in report.Warnings) output.WriteLine("warning: " + w);
        if (report.Verified)
        {
            output.WriteLine("VERIFIED: every entry matches its leaf, every checkpoint is signed and consistent with the ones before it.");
            return 0;
        }
        var first = report.FirstBad!;
        output.WriteLine($"NOT VERIFIED: first bad entry: {(first.Index is { } i ? $"index {i}" : first.Seq is { } q ? $"event seq {q}" : "checkpoints")} ({first.Kind})");
        foreach (var p in report.Problems) output.WriteLine($"  - {p.Message}");
        return 1;
    }

    private static int Replay(Dictionary<string, List<string>> o, TextWriter output, TextWriter error)
    {
        if (One(o, "bundle") is not { } bundlePath) return Fail(error, "replay needs --bundle FILE.");
        if (One(o, "stream") is not { } streamText || !Guid.TryParse(streamText, out var stream)) return Fail(error, "replay needs --stream ID (a UUID).");
        long? version = One(o, "version") is { } v ? long.Parse(v, CultureInfo.InvariantCulture) : null;
        DateTimeOffset? at = One(o, "at") is { } a ? DateTimeOffset.Parse(a, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal) : null;
        var bundle = LoadBundle(bundlePath);
        if (bundle.AuditEntries is not { } entries) return Fail(error, "The bundle has no audit entries (exported with entries=false, or the tenant is shredded).");
        var history = entries.Where(e => e["streamId"]?.GetValue<Guid>() == stream)
            .OrderBy(e => e["version"]!.GetValue<long>())
            .TakeWhile(e => (version is null || e["version"]!.GetValue<long>() <= version)
                            && (at is null || e["time"]!.GetValue<DateTimeOffset>() <= at))
            .ToList();
        if (history.Count == 0) return Fail(error, $"No audit entries of stream {stream} in the bundle up to that point.");
        JsonNode? state = history[0]["before"]?.DeepClone();
        var json = One(o, "json") is not null;
        var steps = new JsonArray();
        foreach (var e in history)
        {
            var patch = e["patch"] as JsonArray ?? [];
            state = JsonPatch.Apply(state, patch);
            var consistent = JsonNode.DeepEquals(state, e["after"]);
            if (json) steps.Add(new JsonObject { ["version"] = e["version"]!.DeepClone(), ["type"] = e["type"]!.DeepClone(), ["time"] = e["time"]!.DeepClone(),
                ["actor"] = e["actor"]?.DeepClone(), ["patch"] = patch.DeepClone(), ["consistent"] = consistent });
            else
            {
                output.WriteLine($"v{e["version"]} {e["time"]} {e["type"]} by {e["actor"]?["subject"]} ({e["actor"]?["kind"]})" +
                                 (consistent ? "" : "  !! the patch does not lead to the recorded state"));
                foreach (var op in patch)
                {
                    var path = op!["path"]?.GetValue<string>() is { Length: > 0 } p ? p : "(the whole record)";
                    output.WriteLine($"    {op["op"]} {path}{(op["value"] is { } val ? " = " + val.ToJsonString() : "")}");
                }
            }
            if (!consistent) state = e["after"]?.DeepClone();
        }
        var last = history[^1];
        if (json) output.WriteLine(new JsonObject { ["stream"] = stream.ToString(), ["version"] = last["version"]!.DeepClone(), ["history"] = steps, ["state"] = state?.DeepClone() }
            .ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        else
        {
            output.WriteLine($"state of {stream} as of version {last["version"]} ({last["time"]}):");
            output.WriteLine(state?.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) ?? "(none: deleted or not yet created)");
        }
        return 0;
    }
}
