using System.Net;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.Compute;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Quotas;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Compute;

/// <summary>AI jobs through the API: reserved against the quota, run on the pool, committed when done; another tenant sees nothing.</summary>
public class ComputeJobTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private ComputeJobs Jobs => Fixture.Host.Services.GetRequiredService<ComputeJobs>();

    [Fact]
    public async Task a_job_reserves_its_units_runs_on_the_pool_and_commits_them_when_done()
    {
        var tenant = await ActiveWithQuotas(new { aiComputeUnitsPerMonth = 1_000 });
        var admin = TenantAdminOf(tenant);
        var submitted = (await admin.Post($"/api/tenants/{tenant}/ai-compute/jobs", new { units = 40, purpose = "triage model" })).ShouldBe(HttpStatusCode.Accepted);
        var id = Guid.Parse(submitted.Str("id"));
        submitted.Headers.Location!.ToString().ShouldBe($"/api/tenants/{tenant}/ai-compute/jobs/{id}");
        await Jobs.Find(tenant, id)!.Completion.WaitAsync(TimeSpan.FromSeconds(30));
        var done = (await admin.Get($"/api/tenants/{tenant}/ai-compute/jobs/{id}")).ShouldBe(HttpStatusCode.OK);
        done.Str("state").ShouldBe("done");
        done.Json.GetProperty("workerSeconds").GetDouble().ShouldBeGreaterThan(0);
        var reservation = (await admin.Get($"/api/tenants/{tenant}/ai-compute/reservations/{done.Str("reservationId")}")).ShouldBe(HttpStatusCode.OK);
        reservation.Str("state").ShouldBe("committed");
        reservation.Json.GetProperty("committedUnits").GetInt64().ShouldBe(40);
        // The job's reservation is the job's: nobody releases it by hand, nor reserves under a job's name.
        var second = (await admin.Post($"/api/tenants/{tenant}/ai-compute/jobs", new { units = 1 })).ShouldBe(HttpStatusCode.Accepted);
        (await admin.Post($"/api/tenants/{tenant}/ai-compute/reservations/{second.Str("reservationId")}/release"))
            .ShouldBeProblem(HttpStatusCode.Conflict, "reservation-of-a-job");
        (await admin.Post($"/api/tenants/{tenant}/ai-compute/reservations", new { units = 1, purpose = ComputeJobs.JobPurpose + Guid.NewGuid() }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        await Jobs.Find(tenant, Guid.Parse(second.Str("id")))!.Completion.WaitAsync(TimeSpan.FromSeconds(30));
        // The quota is what a job's reservation asks of: 960 more units do not fit this month.
        (await admin.Post($"/api/tenants/{tenant}/ai-compute/jobs", new { units = 960 })).ShouldBeProblem(HttpStatusCode.Forbidden, "quota-exceeded");
        (await admin.Post($"/api/tenants/{tenant}/ai-compute/jobs", new { units = 0 })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.SendRaw(HttpMethod.Post, $"/api/tenants/{tenant}/ai-compute/jobs", "null")).ShouldBeProblem(HttpStatusCode.BadRequest, "malformed-request");
        // The pool's state is the platform's to see, with the tenant's guarantee from its quota (1,000 units: one worker).
        var pool = (await Admin.Get("/api/ai-compute/pool")).ShouldBe(HttpStatusCode.OK).Json;
        pool.GetProperty("maxWorkers").GetInt32().ShouldBeGreaterThan(0);
        pool.GetProperty("tenants").EnumerateArray().Single(t => t.GetProperty("tenantId").GetGuid() == tenant).GetProperty("guaranteed").GetInt32().ShouldBe(1);
        (await admin.Get("/api/ai-compute/pool")).ShouldBe(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task another_tenant_cannot_submit_or_see_a_tenants_jobs_and_a_member_needs_compute_use()
    {
        var tenant = await Active();
        var admin = TenantAdminOf(tenant);
        var id = (await admin.Post($"/api/tenants/{tenant}/ai-compute/jobs", new { units = 5 })).ShouldBe(HttpStatusCode.Accepted).Str("id");
        var other = await Active("hays-sheriff");
        var intruder = TenantAdminOf(other);
        (await intruder.Get($"/api/tenants/{tenant}/ai-compute/jobs/{id}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await intruder.Get($"/api/tenants/{other}/ai-compute/jobs/{id}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await intruder.Post($"/api/tenants/{tenant}/ai-compute/jobs", new { units = 5 })).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await Member(tenant, "no-compute").Post($"/api/tenants/{tenant}/ai-compute/jobs", new { units = 5 })).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await Member(tenant, "no-compute").Get($"/api/tenants/{tenant}/ai-compute/jobs/{id}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        await Jobs.Find(tenant, Guid.Parse(id))!.Completion.WaitAsync(TimeSpan.FromSeconds(30));
    }
}
