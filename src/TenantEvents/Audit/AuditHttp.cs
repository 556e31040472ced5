using Marten;
using TenantEvents.Infrastructure;
using TenantEvents.Tenants;

namespace TenantEvents.Audit;

/// <summary>What every audit endpoint checks first.</summary>
public static class AuditHttp
{
    public const string Readers = $"{Infrastructure.Security.Roles.PlatformAdmin},{Infrastructure.Security.Roles.Auditor}," +
                                  $"{Infrastructure.Security.Roles.TenantAdmin},{Infrastructure.Security.Roles.TenantMember}";

    /// <summary>
    /// 404 unless the caller may read this tenant's trail (platform administrators and auditors, the tenant's
    /// administrators, its members holding audit.read at the root) and the tenant exists. The record, for the shredded check.
    /// </summary>
    public static async Task<(IResult? Refusal, TenantRecord? Record)> GuardAsync(HttpContext http, Guid tenantId, TenantStreams streams,
        CancellationToken cancellation)
    {
        if (await TenantHttp.InvisibleAsync(http, tenantId, "audit.read", cancellation) is { } hidden) return (hidden, null);
        await using var session = streams.Store.QuerySession(tenantId.ToString());
        var record = await session.LoadAsync<TenantRecord>(tenantId, cancellation);
        return record is null ? (Problem.NotFound("tenant").ToResult(), null) : (null, record);
    }

    public static bool TryLong(HttpRequest request, string name, long min, out long? value, out IResult? error)
    {
        value = null;
        error = null;
        var text = request.Query[name].ToString();
        if (text.Length == 0) return true;
        if (!long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v) || v < min)
        {
            error = Problem.Validation(name, "out-of-range", $"must be a whole number of {min} or more.").ToResult();
            return false;
        }
        value = v;
        return true;
    }
}
