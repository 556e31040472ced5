using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using TenantEvents.Infrastructure;

namespace TenantEvents.Operations;

/// <summary>
/// TLS certificates from a folder (<see cref="TenantEventsOptions.CertificatesFolder"/>), chosen per connection by the
/// name the client asks for (SNI): the platform's own host and the tenants' custom domains, each its own certificate.
/// <list type="bullet">
/// <item>A certificate is a pair of PEM files, NAME.crt (the leaf, then its intermediates: all of them are sent) and
/// NAME.key.</item>
/// <item>A certificate serves its DNS subject alternative names; a wildcard serves exactly one more label. A name none
/// serves gets default.crt, if there is one; otherwise the handshake fails.</item>
/// <item>The folder is looked at again every two seconds at most, on the next handshake. Any file added, removed,
/// resized or touched (even to an older time) makes it read again. A renewed or new certificate (cert-manager, certbot,
/// a mounted secret) is served without a restart. A pair that cannot be read keeps its previous certificate, if it had
/// one.</item>
/// </list>
/// </summary>
public sealed class CertificateStore
{
    private static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(2);
    private readonly string _folder;
    private readonly ILogger<CertificateStore> _log;
    private readonly object _gate = new();
    private volatile Loaded _loaded = new("", new Dictionary<string, Pair>());
    private DateTime _checkedAt = DateTime.MinValue;

    /// <summary>One pair as read: its leaf and the context (leaf and intermediates) the handshake sends.</summary>
    public sealed record Pair(X509Certificate2 Leaf, SslStreamCertificateContext Context);

    /// <summary>What was read: the folder's fingerprint (every file's name, size and time), and each pair by its .crt file.</summary>
    private sealed record Loaded(string Fingerprint, IReadOnlyDictionary<string, Pair> ByFile)
    {
        public Pair? Default { get; } = ByFile.FirstOrDefault(f => Path.GetFileNameWithoutExtension(f.Key) == "default").Value;

        public IReadOnlyDictionary<string, Pair> ByName { get; } = ByFile
            .Where(f => Path.GetFileNameWithoutExtension(f.Key) != "default")
            .SelectMany(f => NamesOf(f.Value.Leaf).Select(n => (Name: n, Pair: f.Value)))
            .GroupBy(n => n.Name, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.First().Pair, StringComparer.OrdinalIgnoreCase);
    }

    public CertificateStore(string folder, ILogger<CertificateStore> log)
    {
        (_folder, _log) = (folder, log);
        Refresh(force: true);
    }

    /// <summary>The certificate (with its chain) for a name the client asked for; the default for none or an unknown one.</summary>
    public Pair? Select(string? name)
    {
        Refresh(force: false);
        var loaded = _loaded;
        return Match(loaded.ByName, name) ?? loaded.Default;
    }

    /// <summary>Pure: an exact name first (case and a trailing dot do not count), then a wildcard covering exactly one more label.</summary>
    public static T? Match<T>(IReadOnlyDictionary<string, T> byName, string? name) where T : class
    {
        if (string.IsNullOrEmpty(name)) return null;
        name = name.TrimEnd('.');
        if (byName.TryGetValue(name, out var exact)) return exact;
        var dot = name.IndexOf('.');
        return dot > 0 && byName.TryGetValue("*" + name[dot..], out var wildcard) ? wildcard : null;
    }

    /// <summary>The names a certificate serves: its DNS subject alternative names, else its subject's common name.</summary>
    public static IReadOnlyList<string> NamesOf(X509Certificate2 certificate)
    {
        var names = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateDnsNames()).ToList();
        if (names.Count == 0 && certificate.GetNameInfo(X509NameType.DnsName, forIssuer: false) is { Length: > 0 } common) names.Add(common);
        return names;
    }

    /// <summary>A pair read from its files: the leaf with its key, and every further certificate of the .crt as its chain.</summary>
    public static Pair Read(string crt, string key)
    {
        var leaf = X509Certificate2.CreateFromPemFile(crt, key);
        var all = new X509Certificate2Collection();
        all.ImportFromPemFile(crt);
        var intermediates = new X509Certificate2Collection(all.Cast<X509Certificate2>().Where(c => c.Thumbprint != leaf.Thumbprint).ToArray());
        // offline: the chain is what the file says; no fetching of missing intermediates over the network.
        return new Pair(leaf, SslStreamCertificateContext.Create(leaf, intermediates, offline: true));
    }

    private void Refresh(bool force)
    {
        if (!force && DateTime.UtcNow - _checkedAt < RecheckInterval) return;
        lock (_gate)
        {
            if (!force && DateTime.UtcNow - _checkedAt < RecheckInterval) return;
            _checkedAt = DateTime.UtcNow;
            string[] files;
            try
            {
                files = Directory.GetFiles(_folder).Where(f => f.EndsWith(".crt", StringComparison.Ordinal) || f.EndsWith(".key", StringComparison.Ordinal))
                    .Order(StringComparer.Ordinal).ToArray();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log.LogWarning(e, "The certificates folder {Folder} cannot be read; the certificates read before stay", _folder);
                return;
            }
            var fingerprint = string.Join("\n", files.Select(f => new FileInfo(f)).Select(f => $"{f.Name} {f.Length} {f.LastWriteTimeUtc.Ticks}"));
            var previous = _loaded;
            if (!force && fingerprint == previous.Fingerprint) return;
            var byFile = new Dictionary<string, Pair>(StringComparer.Ordinal);
            foreach (var crt in files.Where(f => f.EndsWith(".crt", StringComparison.Ordinal)))
            {
                var key = Path.ChangeExtension(crt, ".key");
                try
                {
                    byFile[crt] = Read(crt, key);
                }
                catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or IOException or ArgumentException
                                              or UnauthorizedAccessException)
                {
                    // A pair caught half written, a key missing or unreadable, or one that does not match: its previous
                    // certificate stays until it reads.
                    _log.LogWarning(e, "The certificate {Certificate} could not be read; its previous one, if any, is kept", crt);
                    if (previous.ByFile.TryGetValue(crt, out var kept)) byFile[crt] = kept;
                }
            }
            var loaded = new Loaded(fingerprint, byFile);
            _loaded = loaded;
            _log.LogInformation("TLS certificates from {Folder}: {Names}{Default}", _folder, string.Join(", ", loaded.ByName.Keys.Order(StringComparer.Ordinal)),
                loaded.Default is null ? "" : " (and a default)");
        }
    }

    /// <summary>
    /// With a certificates folder, the service's endpoints are set here rather than by Kestrel from ASPNETCORE_URLS (the
    /// handshake callback that sends a whole chain per name needs an endpoint of its own): each URL of ASPNETCORE_URLS (or
    /// --urls) is listened on as given, its https ones with the certificates of the folder. The folder must exist at start.
    /// </summary>
    public static void UseFor(WebApplicationBuilder builder, TenantEventsOptions options)
    {
        if (options.CertificatesFolder is not { Length: > 0 } folder) return;
        if (!Directory.Exists(folder))
            throw new InvalidOperationException($"TenantEvents:CertificatesFolder {folder} does not exist (or cannot be read).");
        var urls = (builder.Configuration[WebHostDefaults.ServerUrlsKey] ?? "http://localhost:5000")
            .Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(BindingAddress.Parse).ToList();
        // The endpoints below replace the URLs (without Kestrel's warning that they do).
        builder.WebHost.UseSetting(WebHostDefaults.ServerUrlsKey, "");
        builder.WebHost.ConfigureKestrel((context, kestrel) =>
        {
            var store = new Lazy<CertificateStore>(() => new CertificateStore(folder, kestrel.ApplicationServices.GetRequiredService<ILogger<CertificateStore>>()));
            var tls = new TlsHandshakeCallbackOptions
            {
                OnConnection = handshake => ValueTask.FromResult(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = store.Value.Select(handshake.ClientHelloInfo.ServerName)?.Context
                                               ?? throw new System.Security.Authentication.AuthenticationException(
                                                   $"No certificate serves '{handshake.ClientHelloInfo.ServerName}' and there is no default.crt."),
                }),
            };
            foreach (var url in urls)
            {
                void Configure(Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions listen)
                {
                    if (url.Scheme == "https") listen.UseHttps(tls);
                }
                if (url.Host is "+" or "*" or "0.0.0.0" or "[::]") kestrel.ListenAnyIP(url.Port, Configure);
                else if (url.Host == "localhost") kestrel.ListenLocalhost(url.Port, Configure);
                else kestrel.Listen(IPAddress.Parse(url.Host.Trim('[', ']')), url.Port, Configure);
            }
        });
    }
}
