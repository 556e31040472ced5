using System.Globalization;
using System.Text;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tenants;

namespace TenantEvents.Delivery;

/// <summary>A subscription as its owner sees it; the secret only in the answer that created it.</summary>
public sealed record WebhookView(Guid Id, string Url, string Description, IReadOnlyList<string> Types, string State, long Version,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, string? CreatedBy, string? Secret = null)
{
    public static WebhookView Of(WebhookSubscription s, string? secret = null) =>
        new(s.Id, s.Url, s.Description, s.Types, s.State, s.Version, s.CreatedAt, s.UpdatedAt, s.CreatedBy, secret);
}

public sealed record DeliveryPage(IReadOnlyList<WebhookDelivery> Items, string? NextCursor);

/// <summary>
/// Who manages webhooks. A tenant's: its own administrators, and members with webhooks.manage at its root; nobody else
/// learns that the tenant exists (404) — its events are its data, platform staff included. The platform's
/// (tenant lifecycle events of every tenant): platform administrators.
/// </summary>
public static class WebhookHttp
{
    public const string TenantRoles = $"{Roles.TenantAdmin},{Roles.TenantMember}";
    public const string Permission = "webhooks.manage";

    public static async Task<IResult?> RefuseAsync(HttpContext http, Guid tenantId, CancellationToken cancellation)
    {
        var caller = http.Caller();
        if (!caller.AdministersTenant(tenantId) && !caller.IsMemberOf(tenantId)) return Problem.NotFound("tenant").ToResult();
        return await TenantHttp.InvisibleAsync(http, tenantId, Permission, cancellation);
    }

    public static IResult NotFound() => Problem.NotFound("webhook subscription").ToResult();

    public static string FormatCursor(long index, Guid tenant) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes($"{index.ToString(CultureInfo.InvariantCulture)}:{tenant:N}")).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static bool TryParseCursor(string cursor, out long index, out Guid tenant)
    {
        index = 0;
        tenant = default;
        try
        {
            var padded = cursor.Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - padded.Length % 4) % 4);
            var parts = Encoding.UTF8.GetString(Convert.FromBase64String(padded)).Split(':');
            return parts.Length == 2 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out index)
                                     && Guid.TryParseExact(parts[1], "N", out tenant);
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
