using System.Globalization;
using Marten;
using Wolverine.Runtime;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tenants;

/// <summary>The HTTP edge shared by the tenant endpoints: who is calling, preconditions, and outcomes as responses.</summary>
public static class TenantHttp
{
    public static Caller Caller(this HttpContext http) => new(http.User);

    /// <summary>404 unless the caller may see this tenant: another tenant's administrator learns nothing, not even existence.</summary>
    public static IResult? Invisible(Caller caller, Guid tenantId) =>
        caller.CanSeeTenant(tenantId) ? null : Problem.NotFound("tenant").ToResult();

    /// <summary>
    /// Like <see cref="Invisible"/>, and a tenant member passes when the organisation engine gives it the permission at
    /// the tenant's root organisation: 403 if it can see the root but lacks the permission, 404 if it sees nothing.
    /// </summary>
    public static async Task<IResult?> InvisibleAsync(HttpContext http, Guid tenantId, string permission, CancellationToken cancellation)
    {
        var caller = http.Caller();
        if (caller.CanSeeTenant(tenantId)) return null;
        if (!caller.IsMemberOf(tenantId) || TenantEvents.Organisations.Standing.Of(caller, tenantId) is not { } standing)
            return Problem.NotFound("tenant").ToResult();
        var store = http.RequestServices.GetRequiredService<TenantEvents.Organisations.OrganisationStore>();
        // The same decision as every organisation request, at the root: the tenant is known to whoever holds anything there.
        var refusal = await store.ReadAsync(tenantId, g => g.Root is { } root
            ? TenantEvents.Organisations.OrgHttp.Authorise(standing, g, permission, root, "tenant")
            : Problem.NotFound("tenant"), cancellation);
        return refusal?.ToResult();
    }

    /// <summary>Reads If-Match: a stream version in quotes ("7"), or * for any. Anything else is a 400.</summary>
    public static bool TryExpectedVersion(HttpRequest request, out long? version, out IResult? error)
    {
        version = null;
        error = null;
        var header = request.Headers.IfMatch.ToString().Trim();
        if (header.Length == 0 || header == "*") return true;
        var tag = header.StartsWith("W/", StringComparison.Ordinal) ? null : header.Trim('"');
        if (tag is null || header.Count(c => c == '"') != 2 || !long.TryParse(tag, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
        {
            error = Problem.Validation("If-Match", "invalid-etag",
                "must be one strong entity tag as returned in ETag, such as \"3\", or *.").ToResult();
            return false;
        }
        version = parsed;
        return true;
    }

    /// <summary>
    /// The common path of every command on an existing tenant: visibility (404 for a tenant the caller may not see),
    /// body present, field errors (400), If-Match (412), then the decision through <see cref="TenantStreams"/>.
    /// </summary>
    public static async Task<IResult> Command(HttpContext http, TenantStreams streams, MessageContext context, Guid tenantId,
        string command, IReadOnlyList<FieldError> errors, Func<Actor, Tenant, DateTimeOffset, Decision> decide,
        CancellationToken cancellation, Func<Tenant, IReadOnlyList<object>, TenantTransaction, MessageContext, Task>? alongside = null,
        Func<Applied, Task>? afterCommit = null, string? memberPermission = null)
    {
        var caller = http.Caller();
        if ((memberPermission is null ? Invisible(caller, tenantId) : await InvisibleAsync(http, tenantId, memberPermission, cancellation)) is { } hidden)
            return hidden;
        if (errors.Count > 0) return Problem.Validation(errors).ToResult();
        if (!TryExpectedVersion(http.Request, out var expected, out var error)) return error!;
        var outcome = await streams.Execute(context, tenantId, expected, (tenant, now) => decide(caller.Actor, tenant, now),
            cancellation, alongside);
        if (afterCommit is not null && outcome is Applied { Events.Count: > 0 } applied) await afterCommit(applied);
        return outcome.Respond(http, command);
    }

    public static IReadOnlyList<FieldError> NoErrors => [];

    public static IReadOnlyList<FieldError> Check(Action<List<FieldError>> rules)
    {
        var errors = new List<FieldError>();
        rules(errors);
        return errors;
    }

    /// <summary>410: the tenant existed and was decommissioned; its data was crypto-shredded and cannot come back.</summary>
    public static IResult Gone(TenantRecord record) =>
        Problem.Gone().With("tenant", record.Summary()).ToResult();

    public static string ETag(long version) => $"\"{version.ToString(CultureInfo.InvariantCulture)}\"";

    public static IResult Respond(this Outcome outcome, HttpContext http, string command)
    {
        Telemetry.Commands.Add(1, new KeyValuePair<string, object?>("command", command),
            new KeyValuePair<string, object?>("outcome", outcome.GetType().Name));
        switch (outcome)
        {
            case Applied applied:
                http.Response.Headers.ETag = ETag(applied.Tenant.Version);
                return Results.Json(applied.Tenant, Json.Options);
            case StreamNotFound:
                return Problem.NotFound("tenant").ToResult();
            case TenantShredded:
                return Problem.Gone().ToResult();
            case VersionMismatch mismatch:
                http.Response.Headers.ETag = ETag(mismatch.Actual);
                return Problem.StaleVersion(mismatch.Expected, mismatch.Actual).ToResult();
            case LostRace race:
                return (race.HadExpectedVersion
                    ? new Problem("stale-version", 412, "The resource has changed since you read it",
                        "Another write committed between your read and yours. Read it again and retry.")
                    : Problem.ConcurrentWrite()).ToResult();
            case Refused refused:
                return Refusal(refused.Decision, refused.Tenant, command).ToResult();
            default:
                throw new InvalidOperationException($"Unexpected outcome {outcome}.");
        }
    }

    public static Problem Refusal(Decision decision, Tenant tenant, string command) => decision switch
    {
        InvalidTransition t => new Problem("invalid-transition", 409, $"The tenant cannot {command.Replace('-', ' ')} in its current state", t.Detail)
            .With("currentState", Kebab(t.CurrentState)).With("command", t.Command).With("version", tenant.Version),
        InvalidInput i => Problem.Validation(i.Errors),
        NotAllowed n => new Problem(n.Code, 403, "This rule does not allow you to do this", n.Detail),
        Blocked b => new Problem(b.Code, 409, $"The tenant cannot {command.Replace('-', ' ')} yet", b.Detail)
            .With("currentState", Kebab(b.CurrentState)).With("notBefore", b.NotBefore).With("version", tenant.Version),
        _ => throw new InvalidOperationException($"{decision} is not a refusal."),
    };

    public static string Kebab(TenantState state) =>
        string.Concat(state.ToString().Select((c, i) => char.IsUpper(c) && i > 0 ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));
}
