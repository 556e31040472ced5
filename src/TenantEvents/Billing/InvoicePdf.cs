using System.Globalization;
using System.Text;

namespace TenantEvents.Billing;

/// <summary>
/// An invoice, credit note or showback statement as a PDF for people: A4 pages in the standard Helvetica fonts (nothing
/// embedded, so nothing to license or install), a header with the parties and dates, a table of lines with their periods,
/// quantities and amounts, and the totals. Written directly (PDF 1.4): text only, a page per 32 lines.
/// </summary>
public static class InvoicePdf
{
    private const int LinesPerPage = 32;

    public static byte[] Write(Invoice d)
    {
        var pages = d.Lines.Chunk(LinesPerPage).ToList();
        if (pages.Count == 0) pages.Add([]);
        var contents = pages.Select((lines, i) => Page(d, lines, i, pages.Count)).ToList();
        return Infrastructure.PdfFile.Assemble(Title(d) + " " + (d.Number ?? d.Month), contents);
    }


    private static string Title(Invoice d) => d.Kind == "credit-note" ? "Credit note" : d.Showback ? "Showback statement"
        : d.State == InvoiceStates.Draft ? "Draft invoice" : d.State == InvoiceStates.Void ? "Invoice (void)" : "Invoice";

    private static string Page(Invoice d, IReadOnlyList<BilledLine> lines, int page, int pages)
    {
        var s = new StringBuilder();
        void Text(string font, double size, double x, double y, string text) =>
            s.Append(CultureInfo.InvariantCulture, $"BT /{font} {size} Tf {x:0.##} {y:0.##} Td ({Escape(text)}) Tj ET\n");
        void Right(string font, double size, double right, double y, string text) => Text(font, size, right - Width(text, size), y, text);
        void Rule(double y) => s.Append(CultureInfo.InvariantCulture, $"0.6 w 50 {y:0.##} m 545 {y:0.##} l S\n");

        Text("F2", 20, 50, 790, Title(d));
        Right("F1", 9, 545, 796, $"Page {page + 1} of {pages}");
        var facts = new List<(string, string)>
        {
            ("Number", d.Number ?? "(not yet numbered)"), ("Month", d.Month),
            ("Issued", d.IssueDate?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) ?? "-"),
            ("Due", d.DueDate?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) ?? "-"),
        };
        if (d.PurchaseOrder is { } po) facts.Add(("Purchase order", po));
        if (d.InvoiceNumber is { } credited) facts.Add(("Credits invoice", credited));
        for (var i = 0; i < facts.Count; i++)
        {
            Text("F2", 9, 50, 765 - 12 * i, facts[i].Item1);
            Text("F1", 9, 140, 765 - 12 * i, facts[i].Item2);
        }
        var top = 765 - 12 * facts.Count - 14;
        PartyBlock(Text, "From", d.Seller, 50, top);
        PartyBlock(Text, "To", d.Buyer, 300, top);

        var y = top - 80;
        Text("F2", 9, 50, y, "Description");
        Text("F2", 9, 300, y, "Period");
        Right("F2", 9, 455, y, "Quantity");
        Right("F2", 9, 545, y, $"Amount ({d.Currency})");
        Rule(y - 4);
        y -= 16;
        foreach (var line in lines)
        {
            Text("F1", 9, 50, y, Fit(line.Description, 240, 9));
            Text("F1", 9, 300, y, $"{line.From:MM-dd} to {line.To:MM-dd}");
            Right("F1", 9, 455, y, line.Quantity.ToString("#,0.##", CultureInfo.InvariantCulture));
            Right("F1", 9, 545, y, Money(d.Showback ? line.Shown : line.Amount));
            y -= 13;
        }
        if (page == pages - 1)
        {
            Rule(y + 6);
            y -= 8;
            var totals = d.Showback
                ? new List<(string, decimal)> { ("Your share (shown, not charged)", d.Lines.Sum(l => l.Shown)) }
                : [("Subtotal", d.Subtotal), (TaxLabel(d), d.Tax), ("Total", d.Total)];
            if (d.Paid > 0) totals.Add(("Paid", d.Paid));
            if (d.Credited > 0) totals.Add(("Credited", d.Credited));
            if (d.Kind == "invoice" && !d.Showback && d.State is InvoiceStates.Finalised or InvoiceStates.Paid) totals.Add(("Balance due", d.Balance));
            foreach (var (label, value) in totals)
            {
                Right(label is "Total" or "Balance due" ? "F2" : "F1", 10, 455, y, label);
                Right(label is "Total" or "Balance due" ? "F2" : "F1", 10, 545, y, $"{Money(value)} {d.Currency}");
                y -= 15;
            }
            if (d.Lines.Any(l => l.LateFor is not null))
                Text("F1", 8, 50, Math.Max(40, y - 10), "Lines marked 'late usage' bill use of an earlier month counted after that month was closed.");
            if (d.Reason is { } reason) Text("F1", 9, 50, Math.Max(28, y - 24), Fit((d.State == InvoiceStates.Void ? "Voided: " : "Reason: ") + reason, 495, 9));
        }
        return s.ToString();
    }

    private static string TaxLabel(Invoice d) =>
        d.Lines.Select(l => l.TaxRate).Distinct().ToList() is [var rate] ? $"Tax ({(rate * 100).ToString("0.##", CultureInfo.InvariantCulture)} %)" : "Tax";

    private static void PartyBlock(Action<string, double, double, double, string> text, string heading, Party p, double x, double y)
    {
        text("F2", 9, x, y, heading);
        var rows = new[] { p.Name, p.Street, string.Join(" ", new[] { p.PostalCode, p.City }.Where(v => v is not null)), p.Country,
            p.VatId is { } vat ? "VAT " + vat : null }.Where(r => !string.IsNullOrWhiteSpace(r)).ToList();
        for (var i = 0; i < rows.Count; i++) text("F1", 9, x, y - 12 * (i + 1), Fit(rows[i]!, 240, 9));
    }

    private static string Money(decimal value) => value.ToString("#,0.00##", CultureInfo.InvariantCulture);

    /// <summary>Helvetica's advance widths (per 1,000 em) for what amounts and dates are made of; other characters count as average.</summary>
    private static double Width(string text, double size) => text.Sum(c => c switch
    {
        >= '0' and <= '9' => 556,
        '.' or ',' or ' ' => 278,
        '-' => 333,
        '(' or ')' => 333,
        >= 'A' and <= 'Z' => 667,
        _ => 530,
    }) * size / 1000;

    private static string Fit(string text, double width, double size)
    {
        if (Width(text, size) <= width) return text;
        while (text.Length > 1 && Width(text + "...", size) > width) text = text[..^1];
        return text + "...";
    }

    private static string Escape(string text) => Infrastructure.PdfFile.Escape(text);
}
