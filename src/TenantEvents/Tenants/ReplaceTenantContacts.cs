using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;
using Wolverine.Runtime;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tenants;

/// <summary>The tenant's contacts, as a whole (at least one, at most <see cref="TenantRules.MaxContacts"/>).</summary>
public sealed record ReplaceTenantContacts(List<Contact>? Contacts);

public static class ReplaceTenantContactsEndpoint
{
    /// <summary>
    /// Replaces the tenant's contacts. Platform administrators, the tenant's own administrator, or a member holding
    /// identity.manage at its root organisation (people's data is identity's). Each contact's name and e-mail are sealed
    /// under that person's own key; someone already a contact keeps theirs.
    /// </summary>
    [WolverinePut("/api/tenants/{tenantId}/contacts", OperationId = "ReplaceTenantContacts")]
    [Authorize(Roles = $"{Roles.PlatformAdmin},{Roles.TenantAdmin},{Roles.TenantMember}")]
    public static Task<IResult> Put(Guid tenantId, ReplaceTenantContacts? command, HttpContext http, TenantStreams streams,
        MessageContext context, CancellationToken cancellation) =>
        TenantHttp.Command(http, streams, context, tenantId, "replace contacts",
            TenantHttp.Check(e =>
            {
                TenantRules.Contacts(command?.Contacts, e);
                // One person, one entry: an address twice would make two people of one.
                foreach (var twice in (command?.Contacts ?? []).Select((c, i) => (c?.Email, i)).Where(c => c.Email is not null)
                             .GroupBy(c => c.Email!, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1).Select(g => g.Last().i))
                    e.Add(new FieldError($"contacts[{twice}].email", "duplicate", "names an e-mail address already in the list."));
            }),
            (by, tenant, now) => TenantDecisions.ReplaceContacts(tenant, command!.Contacts!.Select(c => (c, Guid.CreateVersion7())).ToList(), by, now),
            cancellation, memberPermission: TenantEvents.Identity.ServiceAccountStore.ManagePermission);
}
