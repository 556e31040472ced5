using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using Wolverine.Http;
using Wolverine.Runtime;

namespace TenantEvents.Manifests;

/// <summary>
/// POST /api/manifests/apply with If-Match: the plan's digest. The manifest is planned again and applied only if that plan
/// is the one the caller saw (else 412 plan-stale, nothing written; no If-Match: 428). A new tenant is requested (202: it
/// waits for another person's approval, then a plan again applies the rest). Secrets the service makes (service accounts',
/// webhooks') are in this answer once, never again. A change its route refuses stops the apply there (409 apply-incomplete,
/// with what was done); a plan again shows what is left.
/// </summary>
public static class ApplyManifestEndpoint
{
    [WolverinePost("/api/manifests/apply", OperationId = "ApplyManifest")]
    [Authorize(Roles = PlanManifestEndpoint.Roles)]
    public static async Task<IResult> Post(HttpContext http, ManifestService manifests, MessageContext context, CancellationToken cancellation)
    {
        var tag = http.Request.Headers.IfMatch.ToString().Trim();
        if (tag.Length == 0)
            return new Problem("precondition-required", 428, "Apply needs the plan it applies",
                "Send the plan's digest as If-Match (\"sha256:...\"): apply makes exactly that plan or nothing.").ToResult();
        if (tag.Length < 2 || tag[0] != '"' || tag[^1] != '"' || !tag.StartsWith("\"sha256:", StringComparison.Ordinal))
            return Problem.Validation("If-Match", "invalid-digest", "must be the plan's digest in quotes, such as \"sha256:9f2c...\".").ToResult();
        var (manifest, error) = await ManifestHttp.ReadAsync(http, cancellation);
        if (error is not null) return error;
        var (applied, refusal) = await manifests.ApplyAsync(http, context, manifest!, tag[1..^1], ManifestHttp.AllowDelete(http), cancellation);
        if (refusal is not null) return refusal.ToResult();
        http.Response.Headers.CacheControl = "no-store";
        var body = new
        {
            tenant = manifest!.Metadata!.Name,
            tenantId = applied!.TenantId,
            applied = applied.Done,
            secrets = applied.Secrets,
            pending = applied.Pending,
            accessVersion = applied.AccessVersion,
        };
        if (applied.Failed is { } refusedWhole && applied.Done.Count == 0) return refusedWhole.ToResult(); // nothing was written
        if (applied.Failed is { } failed)
            return new Problem("apply-incomplete", 409, "The apply stopped at a change its route refused",
                $"{applied.Done.Count} change(s) were made; then: {failed.Detail ?? failed.Title}. Plan again to see what is left.")
                .With("failed", failed).With("applied", applied.Done).With("secrets", applied.Secrets).With("tenantId", applied.TenantId).ToResult();
        return Results.Json(body, Json.Options, statusCode: applied.AwaitingApproval ? 202 : 200);
    }
}
