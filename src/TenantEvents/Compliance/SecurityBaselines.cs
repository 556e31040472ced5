using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Compliance;

public sealed record SetSecurityBaseline(IReadOnlyList<string?>? RequiredAcr, IReadOnlyList<string?>? RequiredAmr, int? MaxTokenAgeMinutes,
    IReadOnlyList<string?>? AdminNetworks, int? KeyRotationDays);

/// <summary>
/// The tenant's security baseline (NIS2 Art. 21 measures as settings), enforced where it bites: federated sign-ins must
/// carry the required authentication strength (acr) and methods (amr, e.g. mfa) and be recent enough (auth_time, else
/// iat) on every request; the tenant's administrators may act only from the allowed networks; the data key must be
/// rotated at the interval (the compliance job raises KeyRotationOverdue once per due date missed). Held per tenant in memory for a short while.
/// </summary>
public sealed class SecurityBaselines(ComplianceStore store)
{
    private static readonly TimeSpan Fresh = TimeSpan.FromSeconds(10);
    private readonly ConcurrentDictionary<Guid, (SecurityBaseline Baseline, DateTimeOffset At)> _cache = new();

    public async ValueTask<SecurityBaseline> ForAsync(Guid tenant, CancellationToken cancellation)
    {
        if (_cache.TryGetValue(tenant, out var cached) && DateTimeOffset.UtcNow - cached.At < Fresh) return cached.Baseline;
        SecurityBaseline baseline;
        try
        {
            baseline = (await store.LoadProfileAsync(tenant, cancellation)).Baseline;
        }
        catch (Keys.KeyDestroyedException)
        {
            // A decommissioned tenant: its requests are refused where the tenant is read; the baseline asks nothing more.
            baseline = SecurityBaseline.None;
        }
        if (_cache.Count > 100_000) _cache.Clear();
        _cache[tenant] = (baseline, DateTimeOffset.UtcNow);
        return baseline;
    }

    public void Invalidate(Guid tenant) => _cache.TryRemove(tenant, out _);

    public static readonly string AcrClaim = "acr", AmrClaim = "amr", AuthTimeClaim = "auth_time";

    /// <summary>Why a federated principal falls short of the baseline (null: it meets it).</summary>
    public static string? Shortfall(SecurityBaseline baseline, ClaimsPrincipal principal, DateTimeOffset now)
    {
        if (baseline.RequiredAcr.Count > 0 && (principal.FindFirst(AcrClaim)?.Value is not { } acr || !baseline.RequiredAcr.Contains(acr)))
            return $"the tenant requires an authentication context of {string.Join(" or ", baseline.RequiredAcr)} (acr)";
        var amr = principal.FindAll(AmrClaim).Select(c => c.Value).ToHashSet(StringComparer.Ordinal);
        if (baseline.RequiredAmr.FirstOrDefault(m => !amr.Contains(m)) is { } missing)
            return $"the tenant requires the authentication method {missing} (amr)";
        if (baseline.MaxTokenAgeMinutes is { } minutes)
        {
            if (!long.TryParse(principal.FindFirst(AuthTimeClaim)?.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
                return "the tenant limits how long ago a sign-in may be, and the token does not say when it was (auth_time or iat)";
            if (seconds > now.ToUnixTimeSeconds() + 300) return "the token says the sign-in is still to come (auth_time in the future)";
            if (DateTimeOffset.FromUnixTimeSeconds(seconds).AddMinutes(minutes) < now)
                return $"the sign-in is older than the {minutes} minutes the tenant allows; sign in again";
        }
        return null;
    }

    public static bool InNetworks(IReadOnlyList<string> networks, IPAddress? address)
    {
        if (networks.Count == 0) return true;
        if (address is null) return false;
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        return networks.Any(n => IPNetwork.TryParse(n, out var network) && network.Contains(address));
    }

    public static IReadOnlyList<FieldError> Validate(SetSecurityBaseline command)
    {
        var errors = new List<FieldError>();
        void Texts(string field, IReadOnlyList<string?>? values, int max)
        {
            if (values is null) return;
            if (values.Count > 20) errors.Add(new FieldError(field, "too-many", "at most 20."));
            if (values.Any(v => string.IsNullOrWhiteSpace(v) || v.Length > max || v.Any(char.IsControl)))
                errors.Add(new FieldError(field, "invalid", $"each a non-blank value of at most {max} characters."));
        }
        Texts("requiredAcr", command.RequiredAcr, 200);
        Texts("requiredAmr", command.RequiredAmr, 50);
        Texts("adminNetworks", command.AdminNetworks, 50);
        foreach (var n in command.AdminNetworks?.Where(n => !string.IsNullOrWhiteSpace(n) && !IPNetwork.TryParse(n, out _)) ?? [])
            errors.Add(new FieldError("adminNetworks", "invalid-network", $"'{n}' is not a network in CIDR notation (e.g. 10.20.0.0/16)."));
        if (command.MaxTokenAgeMinutes is < 1 or > 10_080) errors.Add(new FieldError("maxTokenAgeMinutes", "out-of-range", "from 1 to 10,080 (a week)."));
        if (command.KeyRotationDays is < 1 or > 3650) errors.Add(new FieldError("keyRotationDays", "out-of-range", "from 1 to 3,650."));
        return errors;
    }

    /// <summary>
    /// Refuses the tenant's administrators outside the allowed networks (403, before the route runs): administration of
    /// a tenant from anywhere else is what the baseline rules out. Platform staff are not the tenant's administrators.
    /// </summary>
    public async Task GateAsync(HttpContext http, Func<Task> next)
    {
        var caller = http.User;
        if (caller.Identity?.IsAuthenticated == true && caller.IsInRole(Roles.TenantAdmin)
            && Guid.TryParse(caller.FindFirst(Claims.TenantId)?.Value, out var tenant)
            && await ForAsync(tenant, http.RequestAborted) is { AdminNetworks.Count: > 0 } baseline
            && !InNetworks(baseline.AdminNetworks, http.Connection.RemoteIpAddress))
        {
            await new Problem("network-not-allowed", 403, "Not from an allowed network",
                "The tenant's security baseline allows its administrators to act only from its administrative networks.").ToResult().ExecuteAsync(http);
            return;
        }
        await next();
    }
}

public static class SecurityBaselineEndpoints
{
    private const string Path = "/api/tenants/{tenantId}/security-baseline";

    /// <summary>
    /// Sets the baseline (the tenant's administrators, or the platform's). An administrator may not set administrative networks that leave out the
    /// address they are calling from (they would lock themselves out); a platform administrator may.
    /// </summary>
    [WolverinePut(Path, OperationId = "SetSecurityBaseline")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static async Task<IResult> Put(Guid tenantId, SetSecurityBaseline? command, HttpContext http, ComplianceStore store, SecurityBaselines baselines,
        CancellationToken cancellation)
    {
        if (await ComplianceHttp.EnterAsync(http, tenantId, write: true, cancellation) is { } refusal) return refusal;
        // The baseline decides who may sign in and from where administrators act: the tenant's administrators set it (or
        // the platform's), not every member who handles compliance.
        if (!http.Caller().Has(Roles.PlatformAdmin) && !http.Caller().AdministersTenant(tenantId))
            return Problem.Forbidden("The security baseline is set by the tenant's administrators.").ToResult();
        if (command is null) return Problem.Malformed("The body must be a JSON object: {\"requiredAcr\", \"requiredAmr\", \"maxTokenAgeMinutes\", \"adminNetworks\", \"keyRotationDays\"}.").ToResult();
        if (SecurityBaselines.Validate(command) is { Count: > 0 } errors) return Problem.Validation(errors).ToResult();
        var baseline = new SecurityBaseline(Clean(command.RequiredAcr), Clean(command.RequiredAmr), command.MaxTokenAgeMinutes, Clean(command.AdminNetworks),
            command.KeyRotationDays);
        var caller = http.Caller();
        if (!caller.Has(Roles.PlatformAdmin) && !SecurityBaselines.InNetworks(baseline.AdminNetworks, http.Connection.RemoteIpAddress))
            return new Problem("would-lock-you-out", 409, "You would lock yourself out",
                $"Your address ({http.Connection.RemoteIpAddress?.ToString() ?? "unknown"}) is in none of the administrative networks given.").ToResult();
        if (!TenantHttp.TryExpectedVersion(http.Request, out var expected, out var versionError)) return versionError!;
        await using var tx = await store.Streams.BeginAsync(null, tenantId, cancellation);
        await tx.LockAsync("compliance-profile", cancellation);
        var profile = await store.LoadProfileAsync(tx.Session, tenantId, cancellation);
        if (expected is { } v && v != profile.Version) return Problem.StaleVersion(v, profile.Version).ToResult();
        if (!Same(profile.Baseline, baseline))
        {
            await store.AppendProfileAsync(tx, profile, [new SecurityBaselineSet(baseline, caller.Actor, store.Now)], cancellation);
            var (tenant, _) = await ComplianceHttp.TenantAsync(store.Streams, tenantId, cancellation);
            if (tenant is null) return Problem.NotFound("tenant").ToResult();
            await store.ScheduleKeyRotationAsync(tx, KeyRotationDue(tenant, baseline), cancellation);
            if (!await tx.TryCommitAsync(cancellation)) return Problem.ConcurrentWrite().ToResult();
            baselines.Invalidate(tenantId);
        }
        http.Response.Headers.ETag = TenantHttp.ETag(profile.Version);
        return Results.Json(View(profile), Json.Options);
    }

    [WolverineGet(Path, OperationId = "GetSecurityBaseline")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static async Task<IResult> Get(Guid tenantId, HttpContext http, ComplianceStore store, CancellationToken cancellation)
    {
        if (await ComplianceHttp.EnterAsync(http, tenantId, write: false, cancellation) is { } refusal) return refusal;
        var profile = await store.LoadProfileAsync(tenantId, cancellation);
        http.Response.Headers.ETag = TenantHttp.ETag(profile.Version);
        return Results.Json(View(profile), Json.Options);
    }

    /// <summary>
    /// The evidence of the baseline (compliance.read): each control, what is configured, when it last changed and by whom,
    /// and whether it is met now (the data key's age against the rotation interval; the rules of the jurisdiction asking for
    /// multi-factor authentication).
    /// </summary>
    [WolverineGet(Path + "/evidence", OperationId = "GetSecurityEvidence")]
    [Authorize(Roles = ComplianceHttp.Roles)]
    public static async Task<IResult> Evidence(Guid tenantId, HttpContext http, ComplianceStore store, CancellationToken cancellation)
    {
        if (await ComplianceHttp.EnterAsync(http, tenantId, write: false, cancellation) is { } refusal) return refusal;
        var (tenant, rules) = await ComplianceHttp.TenantAsync(store.Streams, tenantId, cancellation);
        if (tenant is null) return Problem.NotFound("tenant").ToResult();
        var profile = await store.LoadProfileAsync(tenantId, cancellation);
        return Results.Json(Report(tenant, rules, profile, store.Now), Json.Options);
    }

    public static object Report(Tenant tenant, IReadOnlyList<AppliedRule> rules, ComplianceProfile profile, DateTimeOffset now)
    {
        var b = profile.Baseline;
        var mfaAsked = rules.Any(r => r.Rule.Kind == "security-measures" && r.Rule.Measures?.Contains("multi-factor-authentication") == true);
        var keyAt = tenant.LastKeyRotation?.At ?? tenant.ProvisionedAt ?? tenant.RequestedAt;
        var keyDue = KeyRotationDue(tenant, b);
        object Control(string id, object? configured, bool met, string detail) => new
        {
            control = id, configured, status = met ? "met" : "not-met", detail, changedAt = profile.BaselineChangedAt, changedBy = profile.BaselineChangedBy,
        };
        return new
        {
            tenantId = tenant.Id, generatedAt = now, baselineVersion = profile.Version,
            controls = new[]
            {
                Control("authentication-strength", new { b.RequiredAcr, b.RequiredAmr }, !mfaAsked || b.RequiredAmr.Contains("mfa") || b.RequiredAcr.Count > 0,
                    mfaAsked ? "NIS2 Art. 21(2)(j) asks for multi-factor or continuous authentication where appropriate: require amr mfa or an acr that implies it."
                             : "No rule of the tenant's jurisdiction asks for it; configured as shown."),
                Control("token-age", b.MaxTokenAgeMinutes, b.MaxTokenAgeMinutes is not null, b.MaxTokenAgeMinutes is { } m
                    ? $"Federated sign-ins older than {m} minutes are refused." : "Not limited: a federated token is accepted until it expires."),
                Control("administrative-networks", b.AdminNetworks, b.AdminNetworks.Count > 0,
                    b.AdminNetworks.Count > 0 ? "The tenant's administrators act only from these networks." : "Administrators may act from anywhere."),
                Control("key-rotation", b.KeyRotationDays, keyDue is { } due && due >= now,
                    keyDue is { } d ? $"The data key was last rotated (or made) {keyAt:O}; the next rotation is due {d:O}{(d < now ? " and is overdue" : "")}."
                                    : $"No interval set; the data key was last rotated (or made) {keyAt:O}."),
            },
            keyLastRotatedAt = keyAt,
            keyRotationOverdue = profile.KeyRotationOverdue,
        };
    }

    /// <summary>When the tenant's data key is due for rotation under the baseline (null: no interval set).</summary>
    public static DateTimeOffset? KeyRotationDue(Tenant tenant, SecurityBaseline baseline) =>
        baseline.KeyRotationDays is { } days ? (tenant.LastKeyRotation?.At ?? tenant.ProvisionedAt ?? tenant.RequestedAt).AddDays(days) : null;

    private static object View(ComplianceProfile p) => new
    {
        baseline = p.Baseline, changedAt = p.BaselineChangedAt, changedBy = p.BaselineChangedBy, version = p.Version,
    };

    private static IReadOnlyList<string> Clean(IReadOnlyList<string?>? values) => values?.Select(v => v!.Trim()).Distinct().ToList() ?? [];

    private static bool Same(SecurityBaseline a, SecurityBaseline b) =>
        a.RequiredAcr.SequenceEqual(b.RequiredAcr) && a.RequiredAmr.SequenceEqual(b.RequiredAmr) && a.MaxTokenAgeMinutes == b.MaxTokenAgeMinutes
        && a.AdminNetworks.SequenceEqual(b.AdminNetworks) && a.KeyRotationDays == b.KeyRotationDays;
}
