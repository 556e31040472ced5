using System.Net;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;
using TenantEvents.Tests.Support;
using Wolverine.Tracking;

namespace TenantEvents.Tests.Keys;

/// <summary>Keys destroyed on one instance are forgotten by every instance: nobody keeps opening shredded or erased data from memory.</summary>
public class TwoInstanceKeyTests(AppFixture fixture) : IntegrationTest(fixture)
{
    [Fact]
    public async Task a_tenant_shredded_on_one_instance_can_no_longer_be_opened_on_the_other()
    {
        var second = await Fixture.SecondHost();
        var revocations = second.Services.GetRequiredService<KeyRevocations>();
        await revocations.Listening.WaitAsync(TimeSpan.FromSeconds(30));
        var doomed = await Active("doomed-agency");
        (await Admin.Post($"/api/tenants/{doomed}/decommission", new { reason = "closing" })).ShouldBe(HttpStatusCode.OK);
        (await Approver.Post($"/api/tenants/{doomed}/decommission/approve")).ShouldBe(HttpStatusCode.OK);
        Fixture.Time.Advance(TimeSpan.FromDays(2556));
        // The second instance reads the tenant's events, and so holds its data key in memory.
        var onSecond = Fixture.SecondClient(second, Fixture.Token(Roles.PlatformAdmin, "alice"));
        (await onSecond.Get($"/api/tenants/{doomed}/events")).ShouldBe(HttpStatusCode.OK);

        var heard = revocations.Heard(doomed);
        await Fixture.Host.ExecuteAndWaitAsync(() => Admin.Post($"/api/tenants/{doomed}/decommission/complete"));
        await heard.WaitAsync(TimeSpan.FromSeconds(30));

        // No time has passed: the second instance forgot the key because it was told, not because it expired.
        (await onSecond.Get($"/api/tenants/{doomed}/events")).ShouldBeProblem(HttpStatusCode.Gone, "tenant-decommissioned");
        (await onSecond.Get($"/api/tenants/{doomed}/export")).ShouldBeProblem(HttpStatusCode.Gone, "tenant-decommissioned");
        await Should.ThrowAsync<KeyDestroyedException>(() => second.Services.GetRequiredService<TenantKeyRing>().VersionAsync(doomed, 1, CancellationToken.None));
    }

    [Fact]
    public async Task an_instance_that_missed_the_news_stops_opening_shredded_or_erased_data_within_the_recheck_interval()
    {
        var tenant = await Active("doomed-agency");
        var services = Fixture.Host.Services;
        var options = services.GetRequiredService<TenantEventsOptions>();
        var databases = services.GetRequiredService<TenantDatabases>();
        var ring = services.GetRequiredService<TenantKeyRing>();
        // Another instance's key ring that hears nothing (no listener): only its own recheck can tell it.
        var deaf = new TenantKeyRing(services.GetRequiredService<IKeyService>(), async (t, c) => (await databases.ForAsync(t, c)).Service,
            services.GetRequiredService<Clock>(), options);
        var erased = Guid.CreateVersion7();
        var kept = Guid.CreateVersion7();
        (await deaf.VersionAsync(tenant, 1, CancellationToken.None)).ShouldNotBeNull();
        (await deaf.SubjectKeyAsync(tenant, erased, create: true, CancellationToken.None)).ShouldNotBeNull();
        (await deaf.SubjectKeyAsync(tenant, kept, create: true, CancellationToken.None)).ShouldNotBeNull();

        // One person erased elsewhere: past the interval the deaf ring no longer has their key; the others' it keeps.
        await ring.EraseSubjectAsync(tenant, erased, CancellationToken.None);
        Fixture.Time.Advance(options.KeyRecheckInterval);
        (await deaf.SubjectKeyAsync(tenant, erased, create: false, CancellationToken.None)).ShouldBeNull();
        (await deaf.SubjectKeyAsync(tenant, kept, create: false, CancellationToken.None)).ShouldNotBeNull();
        (await deaf.VersionAsync(tenant, 1, CancellationToken.None)).ShouldNotBeNull();

        // The whole tenant shredded elsewhere: past the interval nothing of it opens.
        await ring.ShredAsync(tenant, CancellationToken.None);
        Fixture.Time.Advance(options.KeyRecheckInterval);
        await Should.ThrowAsync<KeyDestroyedException>(() => deaf.VersionAsync(tenant, 1, CancellationToken.None));
        (await deaf.SubjectKeyAsync(tenant, kept, create: false, CancellationToken.None)).ShouldBeNull();
    }
}
