using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;

namespace TenantEvents.Domains;

/// <summary>A verified name and the tenant it serves.</summary>
public sealed record DomainBinding(string Domain, Guid Tenant, string Kind);

/// <summary>
/// Which tenant a verified name serves: the platform-wide index (main database, tenant_domains, one row per verified
/// name, so a name serves one tenant at most), held in memory and read again at most every few seconds, so requests that
/// name unknown hosts cost no query. Pending claims are not in it: a name resolves to a tenant only once proven.
/// Written by the platform role only (DatabasePrivileges): a leaked service-role password cannot point a name at a tenant.
/// </summary>
public sealed class DomainIndex(TenantDirectory directory, TenantEventsOptions options)
{
    private static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(5);

    private volatile Dictionary<string, DomainBinding> _index = new(StringComparer.Ordinal);
    private long _loadedAt = long.MinValue / 4; // "long ago", far enough that now minus it cannot overflow
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Uri _public = new(options.PublicUrl);

    /// <summary>The platform's own host (of TenantEvents:PublicUrl): never a tenant's.</summary>
    public string PlatformHost => _public.IdnHost.ToLowerInvariant();

    /// <summary>The zone of platform subdomains (TenantEvents:TenantDomainZone), in its one spelling; null: none offered.</summary>
    public string? SubdomainZone => options.TenantDomainZone is { Length: > 0 } zone ? DomainNames.OfHost(zone.Trim()) : null;

    /// <summary>
    /// The address a verified name is reached at: the public URL's scheme and port with the name as host (one listener
    /// serves every name; TLS picks the certificate by SNI). It is the issuer of tokens asked for there.
    /// </summary>
    public string Origin(string domain) => $"{_public.Scheme}://{domain}{(_public.IsDefaultPort ? "" : ":" + _public.Port)}";

    /// <summary>The tenant a host serves, or null (the platform's host, or a name nobody proved).</summary>
    public async ValueTask<DomainBinding?> FindAsync(string host, CancellationToken cancellation)
    {
        if (Environment.TickCount64 - Interlocked.Read(ref _loadedAt) > MaxAge.TotalMilliseconds)
            // Until it was read once, every request waits for it: none may be taken for the platform's because it came first.
            await RefreshAsync(cancellation, wait: !_loaded);
        return _index.GetValueOrDefault(host);
    }

    /// <summary>The tenant whose verified name's origin is this token issuer, or null.</summary>
    public async ValueTask<DomainBinding?> FindIssuerAsync(string issuer, CancellationToken cancellation) =>
        Uri.TryCreate(issuer, UriKind.Absolute, out var uri) && DomainNames.OfHost(uri.IdnHost) is { } host
        && await FindAsync(host, cancellation) is { } binding && Origin(binding.Domain) == issuer
            ? binding
            : null;

    /// <summary>The tenant's verified names, from the index (for the discovery of what this instance serves).</summary>
    public async Task<IReadOnlyList<DomainBinding>> OfTenantAsync(Guid tenant, CancellationToken cancellation)
    {
        await RefreshAsync(cancellation, force: true);
        return _index.Values.Where(b => b.Tenant == tenant).OrderBy(b => b.Domain, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Points the name at the tenant, unless another tenant holds it: returns the tenant that holds it now (this one when
    /// it was free or already this tenant's). As the platform role.
    /// </summary>
    public async Task<Guid> BindAsync(string domain, Guid tenant, string kind, CancellationToken cancellation)
    {
        await using var command = Sql.Command(directory.Platform, $"""
            with added as (
              insert into {options.DatabaseSchema}.tenant_domains (domain, tenant, kind) values ($1, $2, $3)
              on conflict (domain) do nothing returning tenant)
            select tenant from added union all select tenant from {options.DatabaseSchema}.tenant_domains where domain = $1 limit 1
            """, domain, tenant, kind);
        var holder = (Guid)(await command.ExecuteScalarAsync(cancellation))!;
        await RefreshAsync(cancellation, force: true);
        return holder;
    }

    /// <summary>The name serves the tenant no more (nothing happens if it serves another). As the platform role.</summary>
    public async Task UnbindAsync(string domain, Guid tenant, CancellationToken cancellation)
    {
        await using var command = Sql.Command(directory.Platform, $"delete from {options.DatabaseSchema}.tenant_domains where domain = $1 and tenant = $2",
            domain, tenant);
        await command.ExecuteNonQueryAsync(cancellation);
        await RefreshAsync(cancellation, force: true);
    }

    /// <summary>A decommissioned tenant: every name it held is free again. As the platform role.</summary>
    public async Task ForgetTenantAsync(Guid tenant, CancellationToken cancellation)
    {
        await using var command = Sql.Command(directory.Platform, $"delete from {options.DatabaseSchema}.tenant_domains where tenant = $1", tenant);
        await command.ExecuteNonQueryAsync(cancellation);
        await RefreshAsync(cancellation, force: true);
    }

    private volatile bool _loaded;

    private async Task RefreshAsync(CancellationToken cancellation, bool force = false, bool wait = false)
    {
        if (!await _gate.WaitAsync(force || wait ? Timeout.Infinite : 0, cancellation)) return; // another request is reading it
        try
        {
            if (!force && Environment.TickCount64 - Interlocked.Read(ref _loadedAt) <= MaxAge.TotalMilliseconds) return;
            await using var command = directory.Main.CreateCommand($"select domain, tenant, kind from {options.DatabaseSchema}.tenant_domains");
            var index = new Dictionary<string, DomainBinding>(StringComparer.Ordinal);
            await using (var reader = await command.ExecuteReaderAsync(cancellation))
                while (await reader.ReadAsync(cancellation))
                    index[reader.GetString(0)] = new DomainBinding(reader.GetString(0), reader.GetGuid(1), reader.GetString(2));
            _index = index;
            _loaded = true;
            Interlocked.Exchange(ref _loadedAt, Environment.TickCount64);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The index's table (directory migration 2): a name serves one tenant at most.</summary>
    public static string SchemaSql(string s) => $"""
        create table {s}.tenant_domains (
          domain text primary key,
          tenant uuid not null,
          kind text not null,
          verified_at timestamptz not null default clock_timestamp());
        create index tenant_domains_tenant on {s}.tenant_domains (tenant);
        """;
}
