using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using Wolverine.Http;

namespace TenantEvents.Manifests;

/// <summary>
/// POST /api/manifests/plan: a manifest (YAML or JSON, references already resolved by whoever sends it) against its
/// tenant, as the caller. Writes nothing. Answers the changes, the versions read and the plan's digest, which apply takes as
/// its precondition (If-Match). 422 for a manifest with errors (each with its path), 404 for a tenant the caller cannot
/// see, and the refusal of the first change the caller may not make (403, 409, ...), exactly as its route would answer.
/// </summary>
public static class PlanManifestEndpoint
{
    public const string Roles = $"{Infrastructure.Security.Roles.PlatformAdmin},{Infrastructure.Security.Roles.TenantAdmin},{Infrastructure.Security.Roles.TenantMember}";

    [WolverinePost("/api/manifests/plan", OperationId = "PlanManifest")]
    [Authorize(Roles = Roles)]
    public static async Task<IResult> Post(HttpContext http, ManifestService manifests, CancellationToken cancellation)
    {
        var (manifest, error) = await ManifestHttp.ReadAsync(http, cancellation);
        if (error is not null) return error;
        var outcome = await manifests.PlanAsync(http, manifest!, ManifestHttp.AllowDelete(http), cancellation);
        return outcome.Refusal is { } refusal ? refusal.ToResult() : ManifestHttp.PlanResult(manifest!, outcome.TenantId, outcome.Plan!);
    }
}

/// <summary>Reading a manifest from a request, and a plan as the API shows it.</summary>
public static class ManifestHttp
{
    public const string ContentTypes = "application/json, application/yaml";

    public static bool AllowDelete(HttpContext http) => http.Request.Query["allowDelete"].ToString() is "true" or "1";

    /// <summary>The manifest in the body: the same reader as the command line's, with no environment and no files (a reference
    /// the sender left unresolved is an error, never looked up here), so its errors name the same paths.</summary>
    public static async Task<(TenantManifest? Manifest, IResult? Error)> ReadAsync(HttpContext http, CancellationToken cancellation)
    {
        var (text, error) = await ReadTextAsync(http, cancellation);
        if (error is not null) return (null, error);
        if (text!.Trim().Length == 0) return (null, Problem.Malformed("The body must be a manifest (YAML or JSON): apiVersion, kind, metadata, spec.").ToResult());
        var (manifest, errors) = ManifestReader.Read("manifest", text, _ => null, _ => null);
        if (errors.Count > 0)
            return (null, new Problem("manifest-invalid", 422, "The manifest has errors", string.Join(" ", errors.Take(20).Select(e => $"{e.Path}: {e.Detail}")))
            {
                Errors = errors.Take(100).Select(e => new FieldError(e.Path, e.Code, e.Line is { } l ? $"line {l}: {e.Detail}" : e.Detail)).ToList(),
            }.ToResult());
        return (manifest, null);
    }

    /// <summary>The body as UTF-8 text, at most <see cref="ManifestService.MaxBytes"/> (413 beyond).</summary>
    public static async Task<(string? Text, IResult? Error)> ReadTextAsync(HttpContext http, CancellationToken cancellation)
    {
        if (http.Request.ContentLength > ManifestService.MaxBytes) return (null, TooLarge());
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await http.Request.Body.ReadAsync(chunk, cancellation)) > 0)
        {
            if (buffer.Length + read > ManifestService.MaxBytes) return (null, TooLarge());
            buffer.Write(chunk, 0, read);
        }
        try
        {
            return (new System.Text.UTF8Encoding(false, true).GetString(buffer.GetBuffer(), 0, (int)buffer.Length), null);
        }
        catch (System.Text.DecoderFallbackException)
        {
            return (null, Problem.Malformed("The body must be UTF-8 text.").ToResult());
        }
    }

    private static IResult TooLarge() =>
        new Problem("body-too-large", 413, "The body is too large", $"A manifest or an import is at most {ManifestService.MaxBytes / 1024 / 1024} MiB.").ToResult();

    public static object View(TenantManifest manifest, Guid? tenantId, PlannedManifest plan) => new
    {
        apiVersion = TenantManifest.Version,
        kind = "Plan",
        tenant = manifest.Metadata!.Name,
        tenantId,
        digest = plan.Digest,
        inSync = plan.Count == 0,
        summary = plan.Changes.Where(c => c.Withheld is null).GroupBy(c => c.Action).ToDictionary(g => g.Key, g => g.Count()),
        changes = plan.Changes,
        versions = plan.Versions,
    };

    public static IResult PlanResult(TenantManifest manifest, Guid? tenantId, PlannedManifest plan)
    {
        return Results.Json(View(manifest, tenantId, plan), Json.Options);
    }
}
