using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;

namespace TenantEvents.Domains;

/// <summary>A verified name, the tenant it serves, and since when (which also tells this binding from a later one of the name).</summary>
public sealed record DomainBinding(string Domain, Guid Tenant, string Kind, DateTimeOffset Since);

/// <summary>Who holds a name after a bind: this tenant or another, and whether this very call made the binding.</summary>
public sealed record BindOutcome(Guid Holder, bool Inserted);

/// <summary>
/// Which tenant a verified name serves: the platform-wide index (main database, tenant_domains, one row per verified
/// name, so a name serves one tenant at most), held in memory and read again at most every few seconds, so requests that
/// name unknown hosts cost no query. Pending claims are not in it: a name resolves to a tenant only once proven.
/// Written by the platform role only (DatabasePrivileges): a leaked service-role password cannot point a name at a tenant.
/// </summary>
public sealed class DomainIndex(TenantDirectory directory, TenantEventsOptions options, ILogger<DomainIndex> log)
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

    /// <summary>
    /// Whether an issuer is at a name the platform answers for (a verified name, or the subdomain zone): no identity
    /// provider may be configured there, or its tokens and the name's would be taken for one another.
    /// </summary>
    public async ValueTask<bool> ServesIssuerAsync(string issuer, CancellationToken cancellation) =>
        Uri.TryCreate(issuer, UriKind.Absolute, out var uri) && DomainNames.OfHost(uri.IdnHost) is { } host
        && ((SubdomainZone is { } zone && DomainNames.IsAtOrUnder(host, zone)) || await FindAsync(host, cancellation) is not null);

    /// <summary>Whether a tenant's identity provider has its issuer at this name (then the name cannot be bound).</summary>
    public async Task<bool> UsedByIdentityProviderAsync(string name, CancellationToken cancellation)
    {
        await using var command = directory.Main.CreateCommand($"select issuer from {options.DatabaseSchema}.identity_issuers");
        await using var reader = await command.ExecuteReaderAsync(cancellation);
        while (await reader.ReadAsync(cancellation))
            if (Uri.TryCreate(reader.GetString(0), UriKind.Absolute, out var uri) && DomainNames.OfHost(uri.IdnHost) == name) return true;
        return false;
    }

    /// <summary>The tenant's verified names, from the index (for the discovery of what this instance serves).</summary>
    public async Task<IReadOnlyList<DomainBinding>> OfTenantAsync(Guid tenant, CancellationToken cancellation)
    {
        await RefreshAsync(cancellation, force: true);
        return _index.Values.Where(b => b.Tenant == tenant).OrderBy(b => b.Domain, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Points the name at the tenant, unless another tenant holds it: who holds it now, and whether this call bound it
    /// (only that call may undo it: a retry of the same command must not take back what the first one made). As the
    /// platform role.
    /// </summary>
    public async Task<BindOutcome> BindAsync(string domain, Guid tenant, string kind, CancellationToken cancellation)
    {
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                await using (var insert = Sql.Command(directory.Platform,
                                 $"insert into {options.DatabaseSchema}.tenant_domains (domain, tenant, kind, verified_at) values ($1, $2, $3, $4) on conflict (domain) do nothing returning tenant",
                                 domain, tenant, kind, DateTimeOffset.UtcNow))
                    if (await insert.ExecuteScalarAsync(cancellation) is Guid inserted) return new BindOutcome(inserted, true);
                // Held: by whom (a second statement, so it sees a row committed after the insert began).
                await using var holder = Sql.Command(directory.Platform, $"select tenant from {options.DatabaseSchema}.tenant_domains where domain = $1", domain);
                if (await holder.ExecuteScalarAsync(cancellation) is Guid held) return new BindOutcome(held, false);
                if (attempt >= 3) throw new InvalidOperationException($"The binding of {domain} changed under four attempts in a row.");
            }
        }
        finally
        {
            await RefreshAsync(cancellation, force: true);
        }
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
            await using var command = directory.Main.CreateCommand($"select domain, tenant, kind, verified_at from {options.DatabaseSchema}.tenant_domains");
            var index = new Dictionary<string, DomainBinding>(StringComparer.Ordinal);
            try
            {
                await using (var reader = await command.ExecuteReaderAsync(cancellation))
                    while (await reader.ReadAsync(cancellation))
                        index[reader.GetString(0)] = new DomainBinding(reader.GetString(0), reader.GetGuid(1), reader.GetString(2),
                            reader.GetFieldValue<DateTimeOffset>(3));
                _index = index;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException && !cancellation.IsCancellationRequested)
            {
                // The database is away: the names known last keep serving, and the next read waits its turn (no query per
                // request while it is down; probes do not depend on it).
                log.LogWarning(e, "The domain index could not be read; the names known before keep serving.");
            }
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
        create table if not exists {s}.tenant_domains (
          domain text primary key,
          tenant uuid not null,
          kind text not null,
          verified_at timestamptz not null default clock_timestamp());
        create index if not exists tenant_domains_tenant on {s}.tenant_domains (tenant);
        """;
}
