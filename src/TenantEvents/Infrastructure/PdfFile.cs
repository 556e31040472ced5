using System.Globalization;
using System.Text;

namespace TenantEvents.Infrastructure;

/// <summary>
/// A PDF 1.4 file of text pages in the standard Helvetica fonts (nothing embedded, so nothing to license or install):
/// the objects, cross-reference table and trailer around page contents. Invoices (Billing/InvoicePdf.cs) and reports
/// (<see cref="ReportPdf"/>) write their pages; this assembles them.
/// </summary>
public static class PdfFile
{
    private static readonly Encoding Latin1 = Encoding.Latin1;

    /// <param name="pages">Each page's content stream (F1 Helvetica, F2 Helvetica-Bold; A4).</param>
    public static byte[] Assemble(string title, IReadOnlyList<string> pages)
    {
        // Objects: 1 catalog, 2 pages, 3 Helvetica, 4 Helvetica-Bold, 5 info, then per page its page and its content.
        var objects = new List<string>
        {
            "<< /Type /Catalog /Pages 2 0 R >>",
            $"<< /Type /Pages /Kids [{string.Join(" ", pages.Select((_, i) => $"{6 + 2 * i} 0 R"))}] /Count {pages.Count} >>",
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
            $"<< /Title ({Escape(title)}) /Producer (TenantEvents) >>",
        };
        foreach (var (content, i) in pages.Select((c, i) => (c, i)))
        {
            objects.Add($"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {7 + 2 * i} 0 R >>");
            objects.Add($"<< /Length {Latin1.GetByteCount(content)} >>\nstream\n{content}\nendstream");
        }
        var pdf = new StringBuilder("%PDF-1.4\n%\u00e2\u00e3\u00cf\u00d3\n");
        var offsets = new List<int>();
        foreach (var (body, i) in objects.Select((o, i) => (o, i)))
        {
            offsets.Add(Latin1.GetByteCount(pdf.ToString()));
            pdf.Append($"{i + 1} 0 obj\n{body}\nendobj\n");
        }
        var xref = Latin1.GetByteCount(pdf.ToString());
        pdf.Append($"xref\n0 {objects.Count + 1}\n0000000000 65535 f \n");
        foreach (var offset in offsets) pdf.Append($"{offset:D10} 00000 n \n");
        pdf.Append($"trailer\n<< /Size {objects.Count + 1} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref}\n%%EOF\n");
        return Latin1.GetBytes(pdf.ToString());
    }

    /// <summary>One line of text at a place: BT ... ET with the font and size.</summary>
    public static string Text(string font, double size, double x, double y, string text) =>
        string.Create(CultureInfo.InvariantCulture, $"BT /{font} {size} Tf {x:0.##} {y:0.##} Td ({Escape(text)}) Tj ET\n");

    /// <summary>A PDF string: backslash, parentheses escaped; what Latin-1 (as WinAnsi shows it) cannot hold becomes '?'; no control characters.</summary>
    public static string Escape(string text)
    {
        var s = new StringBuilder(text.Length);
        foreach (var c in text)
            s.Append(c switch
            {
                '\\' => "\\\\",
                '(' => "\\(",
                ')' => "\\)",
                _ when char.IsControl(c) => " ",
                _ when c > '\u00ff' => "?",
                _ => c.ToString(),
            });
        return s.ToString();
    }
}

/// <summary>
/// A report for people as a PDF: a title, facts (label and value), and sections of lines wrapped to the page, paged as
/// they fill (access packages, incident reports, records of processing).
/// </summary>
public sealed class ReportPdf(string title)
{
    private const double Top = 790, Bottom = 50, Left = 50, Width = 495;
    private readonly List<StringBuilder> _pages = [new()];
    private double _y = Top;

    private StringBuilder Page => _pages[^1];

    private void Line(string font, double size, double x, string text, double advance)
    {
        if (_y - advance < Bottom)
        {
            _pages.Add(new StringBuilder());
            _y = Top;
        }
        Page.Append(PdfFile.Text(font, size, x, _y, text));
        _y -= advance;
    }

    public ReportPdf Facts(IEnumerable<(string Label, string Value)> facts)
    {
        if (_pages.Count == 1 && _y == Top) Line("F2", 18, Left, title, 30);
        foreach (var (label, value) in facts)
            foreach (var (part, i) in Wrap(value, 400, 9).Select((p, i) => (p, i)))
            {
                if (i == 0) Page.Append(PdfFile.Text("F2", 9, Left, _y, label));
                Line("F1", 9, Left + 110, part, 12);
            }
        _y -= 8;
        return this;
    }

    public ReportPdf Section(string heading, IEnumerable<string> lines)
    {
        if (_pages.Count == 1 && _y == Top) Line("F2", 18, Left, title, 30);
        Line("F2", 11, Left, heading, 15);
        var any = false;
        foreach (var line in lines)
        {
            any = true;
            foreach (var part in Wrap(line, Width, 9)) Line("F1", 9, Left, part, 12);
        }
        if (!any) Line("F1", 9, Left, "None.", 12);
        _y -= 8;
        return this;
    }

    public byte[] Write()
    {
        if (_pages.Count == 1 && _y == Top) Line("F2", 18, Left, title, 30);
        var pages = _pages.Select((p, i) => p + PdfFile.Text("F1", 8, 480, 30, $"Page {i + 1} of {_pages.Count}")).ToList();
        return PdfFile.Assemble(title, pages);
    }

    /// <summary>Words to lines of at most <paramref name="width"/> points (Helvetica at about half an em a character).</summary>
    private static IEnumerable<string> Wrap(string text, double width, double size)
    {
        var perLine = Math.Max(10, (int)(width / (size * 0.5)));
        var line = new StringBuilder();
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            for (var w = word; w.Length > 0;)
            {
                var piece = w.Length > perLine ? w[..perLine] : w;
                w = w[piece.Length..];
                if (line.Length > 0 && line.Length + 1 + piece.Length > perLine)
                {
                    yield return line.ToString();
                    line.Clear();
                }
                if (line.Length > 0) line.Append(' ');
                line.Append(piece);
            }
        }
        if (line.Length > 0) yield return line.ToString();
    }
}
