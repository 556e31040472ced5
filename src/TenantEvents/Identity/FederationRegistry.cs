using System.Collections.Concurrent;
using System.Text.Json;
using Marten;
using Microsoft.IdentityModel.Tokens;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Outbound;

namespace TenantEvents.Identity;

/// <summary>A tenant's identity provider as the token validator uses it.</summary>
public sealed record FederatedProvider(Guid Tenant, IdentityProviderSettings Settings, DateTimeOffset ConfiguredAt);

/// <summary>
/// A provider's discovery document or keys could not be fetched or used. Its message is always
/// <see cref="Generic"/>: the same for a refused address, a closed port, a timeout, an error answer or a bad document.
/// </summary>
public sealed class IdentityProviderUnreachableException(string message) : Exception(message)
{
    public const string Generic =
        "The issuer's discovery document (/.well-known/openid-configuration) and the keys it names could not be fetched and used. "
        + "Both must be served over https from a public address, directly (no redirects), as JSON of at most 256 KB, "
        + "and the document's issuer must be exactly the configured one.";
}

/// <summary>
/// Which tenant an issuer belongs to, and that issuer's signing keys. The issuer index (main database,
/// identity_issuers) is held in memory and re-read at most every few seconds, so tokens naming unknown issuers cost no
/// query. Keys come from the provider's discovery document and JWKS, cached for
/// <see cref="TenantEventsOptions.FederationKeyCacheLifetime"/>; a token with an unknown key id triggers a refresh at
/// most once per <see cref="TenantEventsOptions.FederationKeyRefreshInterval"/> per provider, so a flood of forged key
/// ids cannot hammer the provider.
/// </summary>
public sealed class FederationRegistry(NpgsqlDataSource main, TenantEventsOptions options, IDocumentStore store, OutboundHttp outbound,
    ILogger<FederationRegistry> log)
{
    private static readonly TimeSpan IndexMaxAge = TimeSpan.FromSeconds(5);

    private volatile Dictionary<string, (Guid Tenant, DateTimeOffset ConfiguredAt)> _index = new(StringComparer.Ordinal);
    private volatile Dictionary<Guid, string> _issuerOf = new();
    private long _indexLoadedAt = long.MinValue / 4; // "long ago", far enough that now minus it cannot overflow
    private readonly SemaphoreSlim _indexGate = new(1, 1);
    private readonly ConcurrentDictionary<Guid, FederatedProvider> _providers = new();
    private readonly ConcurrentDictionary<string, ProviderKeys> _keys = new(StringComparer.Ordinal);

    private sealed class ProviderKeys
    {
        public IReadOnlyList<SecurityKey> Keys = [];
        public long FetchedAt = long.MinValue / 4; // "long ago", far enough that now minus it cannot overflow
        public long LastAttempt = long.MinValue / 4; // "long ago", far enough that now minus it cannot overflow
        public readonly SemaphoreSlim Gate = new(1, 1);
    }

    /// <summary>The provider whose issuer this is, or null (no query for an issuer the index does not hold).</summary>
    public async ValueTask<FederatedProvider?> FindAsync(string issuer, CancellationToken cancellation)
    {
        if (Environment.TickCount64 - Interlocked.Read(ref _indexLoadedAt) > IndexMaxAge.TotalMilliseconds)
            await RefreshIndexAsync(cancellation);
        if (!_index.TryGetValue(issuer, out var entry)) return null;
        if (_providers.TryGetValue(entry.Tenant, out var known) && known.ConfiguredAt == entry.ConfiguredAt && known.Settings.Issuer == issuer)
            return known;
        await using var session = store.QuerySession(entry.Tenant.ToString());
        var record = await session.LoadAsync<IdentityProviderRecord>(entry.Tenant, cancellation);
        if (record is null || record.Settings.Issuer != issuer) return null;
        var provider = new FederatedProvider(entry.Tenant, record.Settings, entry.ConfiguredAt);
        _providers[entry.Tenant] = provider;
        return provider;
    }

    /// <summary>A tenant's provider, or null when it has none (found through the same index as <see cref="FindAsync"/>).</summary>
    public async ValueTask<FederatedProvider?> ForTenantAsync(Guid tenant, CancellationToken cancellation)
    {
        if (Environment.TickCount64 - Interlocked.Read(ref _indexLoadedAt) > IndexMaxAge.TotalMilliseconds)
            await RefreshIndexAsync(cancellation);
        return _issuerOf.TryGetValue(tenant, out var issuer) ? await FindAsync(issuer, cancellation) : null;
    }

    /// <summary>Forget what this instance knew of a tenant's provider (after a change here; other instances see it within seconds).</summary>
    public async Task InvalidateAsync(Guid tenant, CancellationToken cancellation)
    {
        if (_providers.TryRemove(tenant, out var old)) _keys.TryRemove(old.Settings.Issuer, out _);
        await RefreshIndexAsync(cancellation, force: true);
    }

    private async Task RefreshIndexAsync(CancellationToken cancellation, bool force = false)
    {
        if (!await _indexGate.WaitAsync(force ? Timeout.Infinite : 0, cancellation)) return; // another request is reading it
        try
        {
            if (!force && Environment.TickCount64 - Interlocked.Read(ref _indexLoadedAt) <= IndexMaxAge.TotalMilliseconds) return;
            await using var command = main.CreateCommand($"select issuer, tenant, configured_at from {options.DatabaseSchema}.identity_issuers");
            var index = new Dictionary<string, (Guid, DateTimeOffset)>(StringComparer.Ordinal);
            await using (var reader = await command.ExecuteReaderAsync(cancellation))
                while (await reader.ReadAsync(cancellation))
                    index[reader.GetString(0)] = (reader.GetGuid(1), reader.GetFieldValue<DateTimeOffset>(2));
            _issuerOf = index.ToDictionary(e => e.Value.Item1, e => e.Key);
            _index = index;
            Interlocked.Exchange(ref _indexLoadedAt, Environment.TickCount64);
        }
        finally
        {
            _indexGate.Release();
        }
    }

    /// <summary>
    /// The provider's signing keys for a token with this key id: from the cache, or fetched again when they are old, or
    /// when the key id is unknown. Either way at most one fetch per provider in
    /// <see cref="TenantEventsOptions.FederationKeyRefreshInterval"/>, decided here and only here: anyone can send a
    /// token naming the provider's issuer and a made-up key id, and no number of them may make the service hammer the
    /// provider (nor wait in line for a fetch that another request just made).
    /// </summary>
    public async ValueTask<IReadOnlyList<SecurityKey>> KeysAsync(FederatedProvider provider, string? kid, CancellationToken cancellation)
    {
        var keys = _keys.GetOrAdd(provider.Settings.Issuer, _ => new ProviderKeys());
        var stale = Environment.TickCount64 - Volatile.Read(ref keys.FetchedAt) > options.FederationKeyCacheLifetime.TotalMilliseconds;
        var unknown = kid is not null && keys.Keys.All(k => k.KeyId != kid);
        if (!stale && !unknown) return keys.Keys;
        if (!MayRefresh(keys))
        {
            // Another request is fetching right now and no key is held yet (a provider just configured, whose first users
            // arrive together): wait for that fetch, a few seconds at most, rather than judge the token by no keys at all
            // (a 401 for a valid token). With keys held, never wait: a flood of made-up key ids costs nobody time.
            if (keys.Keys.Count == 0 && keys.Gate.CurrentCount == 0 && await keys.Gate.WaitAsync(FirstFetchWait, cancellation))
                keys.Gate.Release();
            return keys.Keys;
        }

        await keys.Gate.WaitAsync(cancellation);
        try
        {
            if (!MayRefresh(keys)) return keys.Keys; // another request refreshed while this one waited
            var now = Environment.TickCount64;
            Volatile.Write(ref keys.LastAttempt, now);
            try
            {
                keys.Keys = await FetchKeysAsync(provider.Settings.Issuer, cancellation);
                Volatile.Write(ref keys.FetchedAt, now);
            }
            catch (IdentityProviderUnreachableException)
            {
                // Keep the keys we had: a provider outage must not sign everybody out who holds a valid token.
            }
            return keys.Keys;
        }
        finally
        {
            keys.Gate.Release();
        }
    }

    private static readonly TimeSpan FirstFetchWait = TimeSpan.FromSeconds(3);

    private bool MayRefresh(ProviderKeys keys) =>
        Environment.TickCount64 - Volatile.Read(ref keys.LastAttempt) >= options.FederationKeyRefreshInterval.TotalMilliseconds;

    /// <summary>
    /// Discovery (its issuer must be exactly the configured one), then the JWKS it names, both through the outbound
    /// policy (public addresses only, no redirects, no proxy, a size cap and a time limit: <see cref="OutboundHttp"/>).
    /// Whatever fails, the exception says only that the provider could not be used: the reason (a refused address, a
    /// closed port, the remote's error text) is logged here, never handed to the caller, so this fetch cannot be used
    /// to map what answers where.
    /// </summary>
    public async Task<IReadOnlyList<SecurityKey>> FetchKeysAsync(string issuer, CancellationToken cancellation)
    {
        try
        {
            var discoveryUrl = new Uri(issuer.TrimEnd('/') + "/.well-known/openid-configuration");
            using var discovery = JsonDocument.Parse(await outbound.GetDocumentAsync(discoveryUrl, cancellation));
            var root = discovery.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("issuer", out var iss) || iss.ValueKind != JsonValueKind.String
                || iss.GetString() != issuer)
                throw new InvalidDataException("The discovery document names another issuer.");
            if (!root.TryGetProperty("jwks_uri", out var jwksUri) || jwksUri.ValueKind != JsonValueKind.String
                || !Uri.TryCreate(jwksUri.GetString(), UriKind.Absolute, out var jwks)
                || (jwks.Scheme != "https" && !(jwks.Scheme == "http" && options.AllowInsecureIdentityProviders)))
                throw new InvalidDataException("The discovery document names no usable jwks_uri.");
            var set = new JsonWebKeySet(System.Text.Encoding.UTF8.GetString(await outbound.GetDocumentAsync(jwks, cancellation))) { SkipUnresolvedJsonWebKeys = true };
            return set.GetSigningKeys().ToList();
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellation.IsCancellationRequested)
        {
            log.LogWarning(e, "The identity provider {Issuer} did not serve a usable discovery document and keys", issuer);
            throw new IdentityProviderUnreachableException(IdentityProviderUnreachableException.Generic);
        }
    }
}
