using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TenantEvents.Manifests;

/// <summary>
/// `TenantEvents manifest plan|apply|export|drift`: tenants as code from a terminal or a CI job, talking to the API (never
/// to the database) with a bearer token (TENANTEVENTS_TOKEN, or a service account's TENANTEVENTS_CLIENT_ID and
/// TENANTEVENTS_CLIENT_SECRET) at TENANTEVENTS_URL. References are resolved here, where the secrets are; the server plans.
/// Exit codes: plan 0 no changes, 2 changes, 1 error; apply, export and drift 0 or 1 (drift 2 when the tenant differs).
/// </summary>
public static class ManifestCli
{
    private const string Usage = """
        usage: TenantEvents manifest plan -f FILE [--allow-delete] [--out PLAN.json]
               TenantEvents manifest apply PLAN.json [--wait] [--secrets-out FILE]
               TenantEvents manifest export TENANT-ID [-o FILE.yaml]
               TenantEvents manifest drift TENANT-ID
        environment: TENANTEVENTS_URL (default http://localhost:5080), TENANTEVENTS_TOKEN or TENANTEVENTS_CLIENT_ID + TENANTEVENTS_CLIENT_SECRET
        """;

    public static async Task<int> Run(string[] args, TextWriter? output = null, TextWriter? errors = null, Func<string, string?>? environment = null,
        HttpMessageHandler? handler = null)
    {
        var @out = output ?? Console.Out;
        var err = errors ?? Console.Error;
        var env = environment ?? Environment.GetEnvironmentVariable;
        if (args.Length == 0) { err.WriteLine(Usage); return 1; }
        string? Option(params string[] names)
        {
            for (var i = 0; i < args.Length - 1; i++) if (names.Contains(args[i])) return args[i + 1];
            return null;
        }
        bool Flag(string name) => args.Contains(name);
        string? Positional()
        {
            for (var i = 1; i < args.Length; i++)
            {
                if (args[i] is "-f" or "--file" or "-o" or "--out" or "--secrets-out") i++;
                else if (!args[i].StartsWith('-')) return args[i];
            }
            return null;
        }
        try
        {
            using var client = await ClientAsync(env, handler, err);
            if (client is null) return 1;
            switch (args[0])
            {
                case "plan" when Option("-f", "--file") is { } file:
                    return await Plan(client, file, Flag("--allow-delete"), Option("--out"), @out, err, env);
                case "apply" when Positional() is { } plan:
                    return await Apply(client, plan, Flag("--wait"), Option("--secrets-out"), @out, err, env);
                case "export" when Positional() is { } tenant:
                    return await Export(client, tenant, Option("-o", "--out"), @out, err);
                case "drift" when Positional() is { } tenant:
                    return await Drift(client, tenant, @out, err);
                default:
                    err.WriteLine(Usage);
                    return 1;
            }
        }
        catch (HttpRequestException e)
        {
            err.WriteLine($"error: the service did not answer: {e.Message}");
            return 1;
        }
    }

    private static async Task<HttpClient?> ClientAsync(Func<string, string?> env, HttpMessageHandler? handler, TextWriter err)
    {
        var client = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        client.BaseAddress = new Uri((env("TENANTEVENTS_URL") ?? "http://localhost:5080").TrimEnd('/') + "/");
        client.Timeout = TimeSpan.FromMinutes(10);
        var token = env("TENANTEVENTS_TOKEN");
        if (token is null && env("TENANTEVENTS_CLIENT_ID") is { } id && env("TENANTEVENTS_CLIENT_SECRET") is { } secret)
        {
            using var reply = await client.PostAsync(Identity.TokenEndpoint.Path.TrimStart('/'), new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "client_credentials", ["client_id"] = id, ["client_secret"] = secret,
            }));
            if (!reply.IsSuccessStatusCode)
            {
                err.WriteLine($"error: the token endpoint refused the client credentials ({(int)reply.StatusCode}).");
                return null;
            }
            token = JsonDocument.Parse(await reply.Content.ReadAsStringAsync()).RootElement.GetProperty("access_token").GetString();
        }
        if (token is null)
        {
            err.WriteLine("error: set TENANTEVENTS_TOKEN, or TENANTEVENTS_CLIENT_ID and TENANTEVENTS_CLIENT_SECRET.");
            return null;
        }
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>A manifest file read and its references resolved here; its errors named by file and line.</summary>
    private static (string? Json, Func<string, int?> LineOf) Load(string file, string text, TextWriter err, Func<string, string?> env)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(file))!;
        // A manifest comes from a repository, perhaps from a pull request: its references reach the files beside it (no
        // absolute path, nothing above its folder) and the environment, but never this command's own credentials.
        var (manifest, problems) = ManifestReader.Read(file, text, name => name.StartsWith("TENANTEVENTS_", StringComparison.OrdinalIgnoreCase) ? null : env(name),
            path => Beside(folder, path) is { } full ? File.ReadAllText(full) : null, out var lineOf);
        foreach (var problem in problems) err.WriteLine(problem);
        return (manifest is null ? null : JsonSerializer.Serialize(manifest, ManifestReader.WriteOptions), lineOf);
    }

    /// <summary>
    /// A file a reference may read: relative, inside the manifest's folder, and no link on the way (a link committed beside
    /// a manifest could point anywhere, /proc/self/environ among them).
    /// </summary>
    private static string? Beside(string folder, string path)
    {
        if (Path.IsPathRooted(path)) return null;
        var full = Path.GetFullPath(Path.Combine(folder, path));
        if (!full.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal) || !File.Exists(full)) return null;
        for (var at = full; at.Length > folder.Length; at = Path.GetDirectoryName(at)!)
            if (new FileInfo(at).LinkTarget is not null || new DirectoryInfo(at).LinkTarget is not null) return null;
        return full;
    }

    private static async Task<int> Plan(HttpClient client, string file, bool allowDelete, string? outFile, TextWriter @out, TextWriter err,
        Func<string, string?> env)
    {
        if (!File.Exists(file)) { err.WriteLine($"error: {file}: no such file."); return 1; }
        var text = await File.ReadAllTextAsync(file);
        var (json, lineOf) = Load(file, text, err, env);
        if (json is null) return 1;
        using var reply = await client.PostAsync("api/manifests/plan" + (allowDelete ? "?allowDelete=true" : ""),
            new StringContent(json, Encoding.UTF8, "application/json"));
        var body = await reply.Content.ReadAsStringAsync();
        if (!reply.IsSuccessStatusCode) return Failed(file, body, (int)reply.StatusCode, lineOf, err);
        var plan = JsonNode.Parse(body)!.AsObject();
        Print(plan, @out);
        if (outFile is not null)
        {
            plan["file"] = file;
            plan["manifest"] = text;
            plan["allowDelete"] = allowDelete;
            await File.WriteAllTextAsync(outFile, plan.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            @out.WriteLine($"Plan written to {outFile}: apply it with `TenantEvents manifest apply {outFile}`.");
        }
        return plan["inSync"]!.GetValue<bool>() ? 0 : 2;
    }

    private static async Task<int> Apply(HttpClient client, string planFile, bool wait, string? secretsOut, TextWriter @out, TextWriter err,
        Func<string, string?> env)
    {
        var plan = JsonNode.Parse(await File.ReadAllTextAsync(planFile))!.AsObject();
        var file = plan["file"]!.GetValue<string>();
        var (json, lineOf) = Load(file, plan["manifest"]!.GetValue<string>(), err, env);
        if (json is null) return 1;
        var allowDelete = plan["allowDelete"]?.GetValue<bool>() == true ? "?allowDelete=true" : "";
        var digest = plan["digest"]!.GetValue<string>();
        var (status, body) = await Send(client, "api/manifests/apply" + allowDelete, json, digest);
        if (status is not (200 or 202)) return Failed(file, body, status, lineOf, err, secretsOut);
        var applied = JsonNode.Parse(body)!.AsObject();
        await Report(applied, @out, secretsOut);
        if (status == 202 && wait && applied["tenantId"]?.GetValue<Guid>() is { } tenant)
        {
            // Four eyes: someone else approves the request. Then the tenant is provisioned and the rest of the manifest applied.
            @out.WriteLine($"Waiting for tenant {tenant} to be approved...");
            while (true)
            {
                var state = JsonDocument.Parse(await client.GetStringAsync($"api/tenants/{tenant}")).RootElement.GetProperty("state").GetString();
                if (state == "rejected") { err.WriteLine("error: the request was rejected."); return 1; }
                if (state == "approved") (await client.PostAsync($"api/tenants/{tenant}/provision", null)).EnsureSuccessStatusCode();
                if (state == "active") break;
                if (state != "approved") await Task.Delay(TimeSpan.FromSeconds(2));
            }
            using var replan = await client.PostAsync("api/manifests/plan" + allowDelete, new StringContent(json, Encoding.UTF8, "application/json"));
            var replanned = await replan.Content.ReadAsStringAsync();
            if (!replan.IsSuccessStatusCode) return Failed(file, replanned, (int)replan.StatusCode, lineOf, err);
            var rest = JsonNode.Parse(replanned)!.AsObject();
            Print(rest, @out);
            (status, body) = await Send(client, "api/manifests/apply" + allowDelete, json, rest["digest"]!.GetValue<string>());
            if (status != 200) return Failed(file, body, status, lineOf, err, secretsOut);
            await Report(JsonNode.Parse(body)!.AsObject(), @out, secretsOut);
        }
        return 0;
    }

    private static async Task<(int Status, string Body)> Send(HttpClient client, string path, string json, string digest)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("If-Match", $"\"{digest}\"");
        using var reply = await client.SendAsync(request);
        return ((int)reply.StatusCode, await reply.Content.ReadAsStringAsync());
    }

    private static async Task Report(JsonObject applied, TextWriter @out, string? secretsOut)
    {
        foreach (var change in applied["applied"]?.AsArray() ?? []) @out.WriteLine("  done " + Line(change!.AsObject()));
        foreach (var pending in applied["pending"]?.AsArray() ?? [])
            @out.WriteLine($"  waiting {pending!["kind"]} {pending["target"]}: for {pending["waitingFor"]}");
        await Secrets(applied["secrets"]?.AsArray(), @out, secretsOut);
    }

    /// <summary>Secrets the service made are shown once: written to a file only its owner reads, or printed.</summary>
    private static async Task Secrets(JsonArray? secrets, TextWriter @out, string? secretsOut, bool? redirected = null)
    {
        if (secrets is not { Count: > 0 }) return;
        if (secretsOut is null && !(redirected ?? Console.IsOutputRedirected))
        {
            @out.WriteLine("Secrets (shown once; pass --secrets-out FILE to keep them in a file instead):");
            foreach (var secret in secrets) @out.WriteLine("  " + secret!.ToJsonString());
            return;
        }
        // Output that goes to a file or a CI log never carries a secret: it goes to a file only its owner reads.
        secretsOut ??= "tenantevents-secrets.jsonl";
        var options = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        await using (var writer = new StreamWriter(secretsOut, Encoding.UTF8, options))
            foreach (var secret in secrets) await writer.WriteLineAsync(secret!.ToJsonString());
        @out.WriteLine($"{secrets.Count} secret(s) written to {secretsOut}.");
    }

    private static async Task<int> Export(HttpClient client, string tenant, string? outFile, TextWriter @out, TextWriter err)
    {
        using var reply = await client.GetAsync($"api/tenants/{Uri.EscapeDataString(tenant)}/manifest");
        var body = await reply.Content.ReadAsStringAsync();
        if (!reply.IsSuccessStatusCode) return Failed(tenant, body, (int)reply.StatusCode, _ => null, err);
        var yaml = "# Exported from the live tenant (TenantEvents manifest export); a plan of it says no changes.\n"
                   + (reply.Headers.TryGetValues("TenantEvents-Omitted", out var omitted)
                       ? $"# Left out (this token may not read them): {string.Join(", ", omitted)}.\n" : "")
                   + ToYaml(JsonNode.Parse(body));
        if (outFile is null) @out.Write(yaml);
        else await File.WriteAllTextAsync(outFile, yaml);
        return 0;
    }

    private static async Task<int> Drift(HttpClient client, string tenant, TextWriter @out, TextWriter err)
    {
        using var reply = await client.PostAsync($"api/tenants/{Uri.EscapeDataString(tenant)}/manifest/drift", null);
        var body = await reply.Content.ReadAsStringAsync();
        if (!reply.IsSuccessStatusCode) return Failed(tenant, body, (int)reply.StatusCode, _ => null, err);
        var plan = JsonNode.Parse(body)!.AsObject();
        Print(plan, @out);
        return plan["inSync"]!.GetValue<bool>() ? 0 : 2;
    }

    /// <summary>A refusal, its errors located in the file where the server names a path of the manifest.</summary>
    private static int Failed(string file, string body, int status, Func<string, int?> lineOf, TextWriter err, string? secretsOut = null)
    {
        JsonObject? problem = null;
        try { problem = JsonNode.Parse(body) as JsonObject; } catch (JsonException) { }
        if (problem is null) { err.WriteLine($"error: {status}: {body}"); return 1; }
        string At(string? path) => path is null ? file : $"{file}{(lineOf(path) is { } l ? ":" + l : "")}: {path}";
        var located = problem["manifestPath"]?.GetValue<string>();
        if (problem["errors"] is JsonArray errors && errors.Count > 0)
            foreach (var e in errors)
                err.WriteLine($"{At(Qualified(located, e!["field"]!.GetValue<string>()))}: {e["detail"]} ({e["code"]})");
        else err.WriteLine($"{At(located)}: {problem["detail"] ?? problem["title"]} ({status} {problem["type"]})");
        if (problem["applied"] is JsonArray done)
            foreach (var change in done) err.WriteLine("  done before the refusal: " + Line(change!.AsObject()));
        if (problem["secrets"] is JsonArray secrets && secrets.Count > 0) Secrets(secrets, err, secretsOut, Console.IsErrorRedirected).GetAwaiter().GetResult();
        return 1;
    }

    private static string Qualified(string? at, string field) =>
        field.StartsWith('$') ? field : at is null ? "$." + field : $"{at}.{field}";

    private static void Print(JsonObject plan, TextWriter @out)
    {
        @out.WriteLine($"Plan for {plan["tenant"]}{(plan["tenantId"] is JsonValue id ? $" (tenant {id})" : " (a new tenant)")}:");
        var changes = plan["changes"]!.AsArray();
        foreach (var change in changes) @out.WriteLine("  " + Line(change!.AsObject()));
        var summary = plan["summary"]!.AsObject();
        @out.WriteLine(changes.Count == 0 ? "No changes: the tenant is as the manifest says."
            : string.Join(", ", summary.Select(p => $"{p.Value} to {p.Key}")) + ".");
    }

    private static string Line(JsonObject change)
    {
        var action = change["action"]!.GetValue<string>();
        var sign = change["withheld"] is not null ? "!" : action switch { "create" or "request" => "+", "update" => "~", _ => "-" };
        var text = $"{sign} {action} {change["kind"]} {change["target"]}";
        if (change["before"] is { } before && change["after"] is { } after) text += $": {before.ToJsonString()} -> {after.ToJsonString()}";
        else if (change["after"] is { } only && action == "create") text += $" {only.ToJsonString()}";
        if (change["withheld"] is { } why) text += $" (not done: {why})";
        return text;
    }

    /// <summary>JSON as block YAML (what people keep in repositories), strings quoted where YAML would read them otherwise.</summary>
    public static string ToYaml(JsonNode? node)
    {
        var serializer = new YamlDotNet.Serialization.SerializerBuilder().WithQuotingNecessaryStrings().Build();
        return serializer.Serialize(Plain(node));
    }

    private static object? Plain(JsonNode? node) => node switch
    {
        JsonObject o => o.ToDictionary(p => p.Key, p => Plain(p.Value)),
        JsonArray a => a.Select(Plain).ToList(),
        JsonValue v when v.TryGetValue<bool>(out var b) => b,
        JsonValue v when v.TryGetValue<long>(out var l) => l,
        JsonValue v when v.TryGetValue<decimal>(out var d) => d,
        JsonValue v => v.ToString(),
        _ => null,
    };
}
