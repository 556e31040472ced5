using System.Text;
using TenantEvents.Keys;

namespace TenantEvents.Tenants;

/// <summary>
/// A contact's name and e-mail, sealed under the person's own subject key inside the (tenant-sealed) events and read
/// model, so that one person can be erased without touching the rest of the tenant. Applied at the storage edge, only to
/// sealed payloads: the decisions and the API see plain contacts, or "[erased]" once the person's key is gone.
/// </summary>
public static class ContactProtection
{
    private const string Prefix = "pd1:";
    private const string SealedType = "contact";

    /// <param name="fresh">The event introduces the people (a new tenant's request): their keys are made, not looked up.</param>
    public static async Task<object> ProtectAsync(TenantKeyRing keys, object e, CancellationToken cancellation, bool fresh = false) => e switch
    {
        TenantRequested r => r with
        {
            Contacts = await ProtectAll(keys, r.TenantId, r.Contacts, cancellation, fresh),
            RequestedFor = await Protect(keys, r.TenantId, r.RequestedFor, cancellation, fresh),
        },
        TenantContactsReplaced r => r with { Contacts = await ProtectAll(keys, r.TenantId, r.Contacts, cancellation) },
        _ => e,
    };

    public static async Task<object> RevealAsync(TenantKeyRing keys, object e, CancellationToken cancellation) => e switch
    {
        TenantRequested r => r with
        {
            Contacts = await RevealAll(keys, r.TenantId, r.Contacts, cancellation),
            RequestedFor = await Reveal(keys, r.TenantId, r.RequestedFor, cancellation),
        },
        TenantContactsReplaced r => r with { Contacts = await RevealAll(keys, r.TenantId, r.Contacts, cancellation) },
        _ => e,
    };

    public static async Task<Tenant> ProtectAsync(TenantKeyRing keys, Tenant tenant, CancellationToken cancellation)
    {
        // Only the contacts change: a shallow copy with new contact values leaves the tenant itself untouched.
        var copy = tenant.ShallowCopy();
        copy.Contacts = (await ProtectAll(keys, tenant.Id, tenant.Contacts, cancellation)).ToList();
        copy.RequestedFor = await Protect(keys, tenant.Id, tenant.RequestedFor, cancellation);
        return copy;
    }

    public static async Task<Tenant> RevealAsync(TenantKeyRing keys, Tenant tenant, CancellationToken cancellation)
    {
        tenant.Contacts = (await RevealAll(keys, tenant.Id, tenant.Contacts, cancellation)).ToList();
        tenant.RequestedFor = await Reveal(keys, tenant.Id, tenant.RequestedFor, cancellation);
        return tenant;
    }

    private static async Task<IReadOnlyList<Contact>> ProtectAll(TenantKeyRing keys, Guid tenant, IReadOnlyList<Contact> contacts, CancellationToken c,
        bool fresh = false)
    {
        var result = new List<Contact>(contacts.Count);
        foreach (var contact in contacts) result.Add((await Protect(keys, tenant, contact, c, fresh))!);
        return result;
    }

    private static async Task<IReadOnlyList<Contact>> RevealAll(TenantKeyRing keys, Guid tenant, IReadOnlyList<Contact> contacts, CancellationToken c)
    {
        var result = new List<Contact>(contacts.Count);
        foreach (var contact in contacts) result.Add((await Reveal(keys, tenant, contact, c))!);
        return result;
    }

    /// <summary>Always seals a live contact: whether data is protected is known from where it came, never guessed from its text.</summary>
    private static async Task<Contact?> Protect(TenantKeyRing keys, Guid tenant, Contact? contact, CancellationToken cancellation, bool fresh = false)
    {
        if (contact is not { Erased: false, SubjectId: { } subject }) return contact;
        var key = (await keys.SubjectKeyAsync(tenant, subject, create: true, cancellation, newSubject: fresh))!;
        return contact with { Name = Seal(key, subject, contact.Name), Email = Seal(key, subject, contact.Email) };
    }

    private static async Task<Contact?> Reveal(TenantKeyRing keys, Guid tenant, Contact? contact, CancellationToken cancellation)
    {
        if (contact is not { Erased: false, SubjectId: { } subject }) return contact;
        var key = await keys.SubjectKeyAsync(tenant, subject, create: false, cancellation);
        if (key is null) return contact.AsErased();
        return contact with { Name = Open(key, subject, contact.Name), Email = Open(key, subject, contact.Email) };
    }

    /// <summary>A text sealed under a person's key, bound to them and to what it is (<paramref name="type"/>); also the data-subject requests' own.</summary>
    internal static string Seal(DataKey key, Guid subject, string text, string type = SealedType)
    {
        var sealedText = Sealing.Seal(key, Encoding.UTF8.GetBytes(text), subject, type);
        return Prefix + Convert.ToBase64String([.. sealedText.Nonce, .. sealedText.Ciphertext]);
    }

    internal static string Open(DataKey key, Guid subject, string text, string type = SealedType)
    {
        // Inside a sealed payload every live contact is protected; anything else there was tampered with.
        if (!text.StartsWith(Prefix, StringComparison.Ordinal)
            || !Convert.TryFromBase64String(text[Prefix.Length..], new byte[text.Length], out var length) || length < Sealing.NonceSize + Sealing.TagSize)
            throw new IntegrityViolationException(key.TenantId, subject, type);
        var bytes = Convert.FromBase64String(text[Prefix.Length..]);
        return Encoding.UTF8.GetString(Sealing.Open(key,
            new SealedPayload(key.Version, bytes[..Sealing.NonceSize], bytes[Sealing.NonceSize..]), subject, type));
    }
}
