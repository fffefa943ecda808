"""Build the bundled example archive `examples/archive/`: documents the project writes itself (fictional news).

    python examples/build_examples.py            # rewrites examples/archive/ (byte-identical on every run)

Contents: three PDFs (one over two pages, all with title/author/date metadata), two HTML pages with navigation,
ads and comments around the article (one declared windows-1252 through a meta tag), a hard-wrapped .txt, a .md,
a duplicate of the .txt under another name, and a truncated PDF that must fail. Needs fpdf2 (dev dependency).
"""

from __future__ import annotations

import shutil
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF

ARCHIVE = Path(__file__).resolve().parent / "archive"

TRAM = (
    "Harbourton council approves cross-city tram line",
    "Staff Reporter",
    datetime(2024, 3, 14, 9, 30, tzinfo=UTC),
    [
        "Harbourton city council voted on Wednesday night to approve a 14-kilometre tram line linking the western "
        "suburbs to the port district, ending more than a decade of debate over the project.",
        "The plan passed by 31 votes to 12 after a six-hour session in which dozens of residents spoke for and against it. "
        "Construction is expected to begin next spring and to take about four years.",
        "The line will have 19 stops and is forecast to carry 60,000 passengers a day once it opens. "
        "Officials said trams would run every six minutes at peak times.",
        "Council leader Maria Okafor called the vote a turning point for the city. "
        '"For twenty years we have talked about fixing traffic on the western corridor, and tonight we finally chose to act," she said.',
        "Opponents argued that the estimated cost of 1.2 billion euros was too high and that the money would be better spent on buses. "
        "Several business owners on Dock Street also warned that years of roadworks could drive away customers.",
        "The council said it would set up a compensation fund for shops affected by the works. "
        "It also promised to publish a detailed timetable of road closures before any digging begins.",
        "About two thirds of the cost will be covered by a national infrastructure grant, with the rest raised through municipal bonds. "
        "A final contract with a construction consortium is due to be signed in the autumn.",
    ],
)

COFFEE = (
    "Drought pushes coffee prices to a 13-year high",
    "Economics Desk",
    datetime(2024, 5, 2, 16, 5, tzinfo=UTC),
    [
        "Wholesale coffee prices climbed to their highest level in 13 years on Tuesday as a prolonged drought "
        "in key growing regions cut expected harvests.",
        "Arabica futures rose 4 percent in a single session, extending a rally that has lifted prices by nearly half since January. "
        "Traders said buyers were rushing to secure supplies before the next harvest estimates are published.",
        "Growers in the highland regions have reported the driest rainy season in more than 30 years. "
        "An industry survey released last week cut the forecast for this year's crop by 11 percent.",
        "Roasters have begun to pass the higher costs on to shoppers. "
        "Two of the largest supermarket chains said retail prices for ground coffee would rise by up to 8 percent next month.",
        "Analysts cautioned that the rally could reverse quickly if rain returns. "
        '"The market is pricing in a worst-case harvest, and weather forecasts can change that in a week," said one commodities strategist.',
        "Smaller cafes say they have little room to absorb the increase. "
        "Several owners told reporters they were considering smaller cup sizes rather than raising menu prices again.",
    ],
)

REEF = (
    "Scientists map deep-water coral reef off the northern coast",
    "Science Correspondent",
    datetime(2023, 11, 20, 8, 0, tzinfo=UTC),
    [
        "A team of marine scientists has mapped a previously unknown deep-water coral reef stretching more than "
        "40 kilometres along the northern continental shelf.",
        "The reef lies between 300 and 600 metres below the surface, far deeper than the sunlit reefs familiar to divers. "
        "It was found during a survey that used an uncrewed submarine fitted with sonar and high-resolution cameras.",
        "Researchers counted at least 18 species of cold-water coral, along with sponges, sea stars and several fish "
        "that had never been recorded in the region.",
        "The expedition leader, Dr. Tomas Lindqvist, said the discovery showed how little of the deep sea has been explored. "
        '"We have better maps of the surface of Mars than of the seabed a few hours\' sail from our harbours," he said.',
    ],
    [
        "Cold-water corals grow slowly, sometimes only a few millimetres a year, which makes them vulnerable to damage from bottom trawling. "
        "The team found scars from fishing gear on the southern edge of the reef.",
        "Conservation groups have called on the government to close the area to bottom trawling while further studies are carried out. "
        "The fisheries ministry said it would review the findings before making any decision.",
        "The full survey data will be published in an open database next year so that other research groups can study the site.",
    ],
)

NAV = """<header><div class="logo">The Harbourton Courier</div>
<nav class="main-nav"><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li><li><a href="/business">Business</a></li>
<li><a href="/sport">Sport</a></li><li><a href="/culture">Culture</a></li><li><a href="/weather">Weather</a></li></ul></nav></header>"""
AD = """<div class="advert" id="ad-top"><a href="https://ads.example.com/click?id=123">Limited offer! Get 50% off noise-cancelling
headphones today only. Free delivery on all orders over 30 euros.</a></div>"""
FOOTER = """<footer><p>Copyright The Harbourton Courier. All rights reserved.</p><ul><li><a href="/privacy">Privacy</a></li>
<li><a href="/terms">Terms of use</a></li><li><a href="/contact">Contact us</a></li></ul></footer>"""

LIBRARY_HTML = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Central library reopens after flood repairs | The Harbourton Courier</title>
<meta name="author" content="Priya Raman"><meta property="article:published_time" content="2024-02-09T07:45:00Z"></head>
<body>{NAV}{AD}
<main><article><h1>Central library reopens after flood repairs</h1><p class="byline">By Priya Raman</p>
<p>Harbourton's central library reopened to the public on Friday, eighteen months after a burst river bank flooded its ground floor and basement.</p>
<p>The repairs cost 3.4 million euros and included a new drainage system, raised electrical wiring and flood doors that can be sealed within minutes.</p>
<p>More than 20,000 books were lost in the flood, most of them from the local history collection stored in the basement. Volunteers spent months drying and scanning the documents that could be saved.</p>
<p>Head librarian Joan Whitaker said the building was now better prepared for extreme weather. "We have moved the archive to the second floor, and every rare item has a digital copy," she said.</p>
<p>The library has also added a children's reading room and twelve study booths, which can be booked online.</p>
<p>Opening hours will be extended to 9 p.m. on weekdays during the exam season, the council said.</p>
</article></main>
<aside class="related"><h3>Most read</h3><ul><li><a href="/a1">Council approves tram line</a></li><li><a href="/a2">Storm warning for the weekend</a></li></ul></aside>
<section id="comments" class="comments"><h3>Comments (2)</h3>
<div class="comment"><p class="author">reader42</p><p>Finally! My kids have been waiting for this for ages.</p></div>
<div class="comment"><p class="author">harbour_dad</p><p>Shame it took so long, the temporary site was tiny.</p></div></section>
{FOOTER}</body></html>
"""

# Declared windows-1252 through http-equiv: the bytes are not UTF-8, so only the declaration decodes them right.
ZURICH_HTML = f"""<!DOCTYPE html>
<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">
<title>Café owners in Zürich protest terrace fees</title></head>
<body>{NAV}{AD}
<div id="content"><div class="article-body"><h1>Café owners in Zürich protest terrace fees</h1>
<p>Dozens of café and restaurant owners gathered outside Zürich's city hall on Monday to protest a planned increase in fees for outdoor terraces.</p>
<p>Under the proposal, the annual charge for a terrace in the old town would rise from 180 to 260 francs per square metre – an increase of almost 45 percent.</p>
<p>"We survived the pandemic, then the energy crisis, and now this," said René Brändli, who has run a small café near the lake for nineteen years.</p>
<p>City officials say the fees have not been adjusted since 2009 and no longer cover the cost of cleaning and inspecting public spaces.</p>
<p>The protesters handed over a petition with more than 4,000 signatures, including many from tourists who said the terraces were part of the city's charm.</p>
<p>The city parliament is due to vote on the proposal in June. Several members have already suggested a smaller, gradual increase as a compromise.</p>
</div></div>
<div class="comments-section"><h4>Leserkommentare</h4><div class="comment"><p>Die Gebühren sind viel zu hoch!</p></div></div>
{FOOTER}</body></html>
"""

MARATHON_TXT = """Local runner smashes Harbourton marathon course record

Amina Yusuf broke the Harbourton marathon course record on Sunday, finishing in 2 hours 24 minutes and 51 seconds in cool and windless conditions.

The 27-year-old nurse, who trains before her early shifts at the city hospital, took more than two minutes off the previous record, which had stood since 2011.

Yusuf pulled away from a group of four runners at the 30-kilometre mark and ran the final stretch along the harbour wall alone. "I kept waiting for someone to come back at me, but my legs just kept going," she said after crossing the line.

More than 9,000 runners took part in this year's race, a record for the event. Organisers said the new course, which avoids the steep climb up Castle Hill, had attracted many first-time marathon runners.

In the men's race, defending champion Lars Henning won for the third year running in 2 hours 11 minutes.

The race raised about 400,000 euros for local charities, including the hospital's children's ward where Yusuf works.
"""

BATTERY_MD = """# Startup opens battery recycling plant in the port district

*Harbourton, 21 June 2024.* A young company opened the region's first large-scale **battery recycling plant** on Thursday,
promising to recover most of the metals in used electric car batteries.

The plant, run by [Circuvolt](https://example.com/circuvolt), can process up to 10,000 tonnes of batteries a year.
The company says it can recover more than 90 percent of the lithium, nickel and cobalt they contain.

## Jobs and funding

The site will employ about 140 people once it reaches full capacity next year.
It was built with 60 million euros of private investment and a regional development loan.

## Concerns

Environmental groups welcomed the project but asked for regular independent checks of air quality around the plant.
The company said it would publish emissions data every month.

> "Every battery we recycle is a battery we do not have to mine," said chief executive Elena Varga.
"""


def _pdf(title: str, author: str, created: datetime, pages: list[list[str]]) -> bytes:
    """A simple news PDF: title, byline, paragraphs; one list of paragraphs per page. Core fonts: latin-1 only."""
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_author(author)
    pdf.set_creation_date(created)  # fixed, so the file is byte-identical on every build
    pdf.set_creator("docsum examples/build_examples.py")
    pdf.set_producer("fpdf2")
    for number, paragraphs in enumerate(pages):
        pdf.add_page()
        if number == 0:
            pdf.set_font("Helvetica", "B", 18)
            pdf.multi_cell(0, 9, title)
            pdf.ln(2)
            pdf.set_font("Helvetica", "I", 10)
            pdf.multi_cell(0, 6, f"By {author}, {created:%d %B %Y}")
            pdf.ln(4)
        pdf.set_font("Helvetica", "", 11)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph)
            pdf.ln(3)
    return bytes(pdf.output())


def _wrap(text: str, width: int = 72) -> str:
    """Hard-wrap each paragraph, as plain-text news wires do."""
    return "\n\n".join(textwrap.fill(p, width) for p in text.strip().split("\n\n")) + "\n"


def build(target: Path = ARCHIVE) -> list[Path]:
    if target.exists():
        shutil.rmtree(target)
    (target / "web").mkdir(parents=True)
    files: dict[str, bytes] = {
        "tram-line.pdf": _pdf(*TRAM[:3], [TRAM[3]]),
        "coffee-prices.pdf": _pdf(*COFFEE[:3], [COFFEE[3]]),
        "coral-reef.pdf": _pdf(*REEF[:3], [REEF[3], REEF[4]]),
        "web/library-reopens.html": LIBRARY_HTML.encode("utf-8"),
        "web/zurich-terraces.html": ZURICH_HTML.encode("cp1252"),
        "marathon-record.txt": _wrap(MARATHON_TXT).encode("utf-8"),
        "battery-recycling.md": BATTERY_MD.encode("utf-8"),
    }
    files["copies/marathon-record-copy.txt"] = files["marathon-record.txt"]  # same bytes: a duplicate
    # Cut off after the header and first objects: no cross-reference table, no trailer, no page tree.
    files["damaged-report.pdf"] = files["coffee-prices.pdf"][:400]
    written = []
    for name, data in sorted(files.items()):
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in build():
        print(f"{path.stat().st_size:8d}  {path.relative_to(ARCHIVE.parent)}")
