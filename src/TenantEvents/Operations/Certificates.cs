using System.Security.Cryptography.X509Certificates;
using TenantEvents.Infrastructure;

namespace TenantEvents.Operations;

/// <summary>
/// TLS certificates from a folder (<see cref="TenantEventsOptions.CertificatesFolder"/>), chosen per connection by the
/// name the client asks for (SNI): the platform's own host and the tenants' custom domains, each its own certificate. A
/// certificate is a pair of PEM files, NAME.crt (the chain, leaf first) and NAME.key; the names it serves are its DNS
/// subject alternative names (a wildcard serves one label). A name no certificate serves gets default.crt, if there is
/// one. The folder is read again when a file in it changes (at most every few seconds), so a renewed or new certificate
/// (cert-manager, certbot, a mounted secret) is served without a restart.
/// </summary>
public sealed class CertificateStore
{
    private static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(2);
    private readonly string _folder;
    private readonly ILogger<CertificateStore> _log;
    private readonly object _gate = new();
    private volatile Loaded _loaded = new(DateTime.MinValue, 0, new Dictionary<string, X509Certificate2>(), null);
    private DateTime _checkedAt = DateTime.MinValue;

    /// <summary>What was read: the files' newest write time and count (a change in either means read again), each pair's certificate.</summary>
    private sealed record Loaded(DateTime Stamp, int Files, IReadOnlyDictionary<string, X509Certificate2> ByFile, X509Certificate2? Default)
    {
        public IReadOnlyDictionary<string, X509Certificate2> ByName { get; } = ByFile
            .Where(f => Path.GetFileNameWithoutExtension(f.Key) != "default")
            .SelectMany(f => NamesOf(f.Value).Select(n => (Name: n, Certificate: f.Value)))
            .GroupBy(n => n.Name, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.First().Certificate, StringComparer.OrdinalIgnoreCase);
    }

    public CertificateStore(string folder, ILogger<CertificateStore> log)
    {
        (_folder, _log) = (folder, log);
        Refresh(force: true);
    }

    /// <summary>The certificate for a name the client asked for (null or empty, or a name none serves: the default).</summary>
    public X509Certificate2? Select(string? name)
    {
        Refresh(force: false);
        var loaded = _loaded;
        return Match(loaded.ByName, name) ?? loaded.Default;
    }

    /// <summary>Pure: an exact name first, then a wildcard covering exactly one more label.</summary>
    public static X509Certificate2? Match(IReadOnlyDictionary<string, X509Certificate2> byName, string? name)
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

    private void Refresh(bool force)
    {
        if (!force && DateTime.UtcNow - _checkedAt < RecheckInterval) return;
        lock (_gate)
        {
            if (!force && DateTime.UtcNow - _checkedAt < RecheckInterval) return;
            _checkedAt = DateTime.UtcNow;
            var files = Directory.Exists(_folder)
                ? Directory.GetFiles(_folder, "*.crt").Concat(Directory.GetFiles(_folder, "*.key")).ToList()
                : [];
            var stamp = files.Select(File.GetLastWriteTimeUtc).DefaultIfEmpty(DateTime.MinValue).Max();
            var previous = _loaded;
            if (!force && stamp == previous.Stamp && files.Count == previous.Files) return;
            var byFile = new Dictionary<string, X509Certificate2>(StringComparer.Ordinal);
            foreach (var crt in files.Where(f => f.EndsWith(".crt", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
            {
                var key = Path.ChangeExtension(crt, ".key");
                if (!File.Exists(key)) continue;
                try
                {
                    byFile[crt] = X509Certificate2.CreateFromPemFile(crt, key);
                }
                catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or IOException or ArgumentException)
                {
                    // A pair caught half written, or a key that does not match: its previous certificate stays until it reads.
                    _log.LogWarning(e, "The certificate {Certificate} could not be read; its previous one, if any, is kept", crt);
                    if (previous.ByFile.TryGetValue(crt, out var kept)) byFile[crt] = kept;
                }
            }
            var loaded = new Loaded(stamp, files.Count, byFile, byFile.FirstOrDefault(f => Path.GetFileNameWithoutExtension(f.Key) == "default").Value);
            _loaded = loaded;
            _log.LogInformation("TLS certificates from {Folder}: {Names}{Default}", _folder, string.Join(", ", loaded.ByName.Keys.Order(StringComparer.Ordinal)),
                loaded.Default is null ? "" : " (and a default)");
        }
    }

    /// <summary>Kestrel's HTTPS endpoints (ASPNETCORE_URLS https://...) choose their certificate from the store.</summary>
    public static void UseFor(WebApplicationBuilder builder, TenantEventsOptions options)
    {
        if (options.CertificatesFolder is not { Length: > 0 } folder) return;
        builder.WebHost.ConfigureKestrel((context, kestrel) =>
        {
            var store = new Lazy<CertificateStore>(() => new CertificateStore(folder, kestrel.ApplicationServices.GetRequiredService<ILogger<CertificateStore>>()));
            kestrel.ConfigureHttpsDefaults(https => https.ServerCertificateSelector = (_, name) => store.Value.Select(name));
        });
    }
}
