"""A deterministic, news-like feed workload: N feeds x M items of RSS 2.0 and Atom.

About 70 % of the feeds are RSS 2.0 and 30 % Atom. Each item has a headline, a link, a
guid, a date, an author, categories and a few hundred bytes of HTML (paragraphs, a link,
sometimes an image or a quote); about one item in three also has a longer full-text body.
About 10 % of the items are about Russia and the Taliban (Kabulov, the Islamic Emirate,
recognition, embassies), so a topic matcher keeps some and a store writes them: 40 % of
those carry one of ten wire headlines that many outlets run word for word, the rest an
outlet's own headline built from parts. About 5 % of the headlines are in Russian and 3 %
in Dari.

The same seed always gives the same bytes, so every system and every run sees the same
documents. Nothing here touches the network or the file system (see ``write_to``).
"""

# Russian and Dari text on purpose: Cyrillic letters that look Latin are not typos.

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape

BASE_DATE = datetime(2025, 7, 4, 12, 0, tzinfo=UTC)

OUTLETS = [
    ("TOLOnews", "tolonews.com"), ("Amu TV", "amu.tv"), ("Pajhwok", "pajhwok.com"),
    ("Khaama Press", "khaama.com"), ("Ariana News", "ariananews.af"), ("TASS", "tass.com"),
    ("RIA Novosti", "ria.ru"), ("Interfax", "interfax.ru"), ("Kommersant", "kommersant.ru"),
    ("Dawn", "dawn.com"), ("The Express Tribune", "tribune.com.pk"),
    ("Al Jazeera", "aljazeera.com"),
    ("Reuters", "reuters.com"), ("BBC World", "bbc.co.uk"), ("The Diplomat", "thediplomat.com"),
    ("Eurasianet", "eurasianet.org"), ("Gazeta.uz", "gazeta.uz"), ("Xinhua", "xinhuanet.com"),
    ("The Hindu", "thehindu.com"), ("RFE/RL", "rferl.org"),
]
SECTIONS = ["world", "asia", "politics", "economy", "business", "region", "latest"]
PLACES = ["Kabul", "Tashkent", "Islamabad", "New Delhi", "Beijing", "Doha", "Tehran", "Dushanbe",
          "Almaty", "Ankara", "Brussels", "Geneva", "Karachi", "Herat", "Mazar-i-Sharif",
          "Kandahar"]
ACTORS = ["The central bank", "Finance ministers", "The World Bank", "A UN agency", "Officials",
          "Lawmakers", "Trade negotiators", "Aid groups", "The government", "Energy firms",
          "Regional leaders", "Health workers", "Farmers", "Exporters", "Investors", "Engineers"]
VERBS = ["discuss", "announce", "sign", "delay", "expand", "review", "approve", "criticise",
         "launch", "suspend", "welcome", "reject", "extend", "plan", "debate", "unveil"]
OBJECTS = ["a new rail corridor", "wheat import quotas", "a power transmission line",
           "emergency flood relief", "border trade rules", "a gas pipeline study", "water sharing",
           "new customs procedures", "a mining concession", "a vaccination campaign",
           "currency controls", "a solar power plant", "school reopening plans", "road repairs",
           "a fibre-optic link", "drought assistance", "an investment forum", "airline routes"]
FILLER = [
    "The talks were described as constructive by people familiar with them.",
    "Details of the agreement have not yet been published.",
    "Analysts said the move could take months to have an effect on prices.",
    "A spokesperson declined to comment on the timeline.",
    "The decision follows weeks of negotiations between the two sides.",
    "Local traders said demand had picked up since the start of the month.",
    "Officials expect a further round of meetings in the autumn.",
    "The project is expected to create several thousand jobs.",
    "Critics argue that the plan does little to address underlying problems.",
    "Figures released on Thursday showed a modest improvement on last year.",
    "Observers noted that the announcement came ahead of a regional summit.",
    "The ministry said further information would be released next week.",
]
TOPICAL_TITLES = [
    "Russia formally recognises the Islamic Emirate of Afghanistan",
    "Kabulov says Moscow will expand contacts with the Taliban government",
    "Taliban envoy presents credentials to Russian foreign ministry",
    "Lavrov meets Muttaqi in Moscow to discuss trade and security",
    "Kremlin removes Taliban from list of banned organisations",
    "Russian delegation visits Kabul as Taliban seek wider recognition",
    "Putin's envoy Kabulov: recognition of Taliban rule is a matter of time",
    "Taliban delegation attends Kazan Forum, meets Russian business leaders",
    "Moscow Format talks on Afghanistan open with Taliban representatives",
    "Islamic Emirate welcomes Russia's decision to accept its ambassador",
]
# Varied headlines on the story, built from parts (a few thousand combinations), beside the
# fixed wire headlines above that many outlets run word for word.
TOPICAL_SUBJECTS = ["Russia", "Moscow", "Kremlin envoy Zamir Kabulov", "Sergei Lavrov",
                    "Russian diplomats", "A Russian trade delegation", "Deputy PM Alexei Overchuk",
                    "Russia's ambassador Dmitry Zhirnov"]
TOPICAL_ACTIONS = ["holds talks with", "meets", "signs a memorandum with", "hosts",
                   "discusses wheat exports with", "discusses a gas pipeline with", "invites",
                   "urges inclusive government from"]
TOPICAL_OBJECTS = ["Taliban officials", "the Islamic Emirate's foreign minister",
                   "a Taliban delegation", "the Taliban's acting commerce minister",
                   "Islamic Emirate representatives"]
TOPICAL_ENDINGS = ["in Kabul", "in Moscow", "in Kazan", "in Tashkent", "on recognition",
                   "on the sidelines of the Kazan Forum", "on security cooperation",
                   "on transit routes"]
TOPICAL_TEXT = [
    "Russia's special envoy for Afghanistan, Zamir Kabulov, said Moscow was ready to deepen "
    "ties with the Taliban government.",
    "The Islamic Emirate's foreign minister Amir Khan Muttaqi thanked Russia for what he called "
    "a courageous step towards recognition.",
    "Moscow became the first capital to formally recognise Taliban rule in Afghanistan, the "
    "Russian foreign ministry said.",
    "Taliban officials held talks with Russian counterparts on energy, wheat and transit trade.",
]
RU_TITLES = [
    "Лавров обсудил с Муттаки торговлю и безопасность",
    "Россия признала Исламский эмират Афганистана",
    "Кабулов: Москва продолжит контакты с талибами",
    "Центробанк сохранил ключевую ставку",
    "В Москве открылся международный экономический форум",
    "Правительство утвердило план развития транспортных коридоров",
    "Экспорт пшеницы вырос на пятнадцать процентов",
]
RU_TEXT = [
    "Министр иностранных дел России Сергей Лавров провёл переговоры с главой МИД Афганистана.",
    "Представители талибов приняли участие в форуме в Казани.",
    "По данным министерства, переговоры прошли в конструктивной атмосфере.",
    "Эксперты ожидают, что решение вступит в силу до конца года.",
]
FA_TITLES = [
    "روسیه امارت اسلامی را به رسمیت شناخت",
    "سفیر امارت اسلامی در مسکو اعتبارنامه خود را تقدیم کرد",
    "نرخ اسعار در بازار کابل ثابت ماند",
    "کار ساخت راه آهن ترانس افغان آغاز شد",
    "صادرات میوه خشک افغانستان افزایش یافت",
]
FA_TEXT = [
    "وزارت امور خارجه روسیه اعلام کرد که سفیر امارت اسلامی را پذیرفته است.",
    "مقام‌های محلی می‌گویند این پروژه هزاران شغل ایجاد می‌کند.",
    "تاجران کابل از افزایش تقاضا در بازار خبر دادند.",
]
AUTHORS = ["Staff reporter", "Sana Rahimi", "Ivan Petrov", "Farid Ahmadi", "Maria Orlova",
           "Ahmad Shah Karimi", "Newsdesk", "Li Wei", "Ayesha Khan", "John Miller"]
CATEGORIES = ["World", "Asia", "Politics", "Economy", "Afghanistan", "Russia", "Diplomacy",
              "Business", "Security", "Energy", "Trade", "Region"]

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"


@dataclass(frozen=True)
class Document:
    """One feed as the server hands it out."""

    path: str
    body: bytes
    content_type: str
    items: int
    # The body once the feed has moved on (``generate``'s ``changing``): that many newer
    # entries on top, as many of the oldest gone. None: the feed never changes.
    later: bytes | None = None

    @property
    def etag(self) -> str:
        return etag_of(self.body)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha1(body).hexdigest()[:20] + '"'


@dataclass(frozen=True)
class _Item:
    title: str
    link: str
    guid: str
    date: datetime
    author: str
    categories: tuple[str, ...]
    summary_html: str
    content_html: str | None
    lang: str | None


def _paragraphs(rng: random.Random, lead: str, pool: list[str], n: int) -> list[str]:
    rest = sorted(set(pool) - {lead})
    return [lead, *rng.sample(rest, k=min(n, len(rest)))]


def _html(rng: random.Random, sentences: list[str], link: str) -> str:
    parts = [f"<p>{escape(s)}</p>" for s in sentences]
    roll = rng.random()
    if roll < 0.3:
        parts.insert(1, f'<p><img src="/images/{rng.randrange(10**6)}.jpg" alt="Photo" '
                        'width="640" height="360"></p>')
    elif roll < 0.45:
        parts.insert(1, f"<blockquote><p>{escape(rng.choice(FILLER))}</p></blockquote>")
    parts.append(f'<p><a href="{escape(link)}?utm_source=rss&amp;utm_medium=feed">'
                 "Read the full story</a></p>")
    return "".join(parts)


@dataclass(frozen=True)
class Shape:
    """How a workload departs from the default one (``SHAPES``)."""

    topical: float = 0.10  # share of items on the monitored story
    wire: float = 0.4  # share of those carrying a wire headline word for word
    wire_copies: bool = False  # wire items repeat the whole text (title and summary) verbatim
    short: bool = False  # one-sentence summaries, no images, quotes or full text: about 1 KB
    long: bool = False  # every item has content:encoded of 5-20 KB
    # The markup big outlets' feeds carry beside the text: Media RSS images with credits and
    # captions, comment threads (Atom threading), and the outlet's own namespace (section,
    # byline), which feedparser does not know.
    rich: bool = False


# The workload matrix: (a) default, (c) short, (d) long, (e) wire-copy heavy, (f) almost
# nothing relevant, (h) rich markup, (k) dense: half of all items on the story, each its own
# text (every kept item costs the single writer its rows, topics, index and story); (b) one
# host, (g) 10,000 feeds x 5 items, (i) small and (j) tiny are run.py flags on the default
# items.
SHAPES = {
    "default": Shape(),
    "short": Shape(short=True),
    "long": Shape(long=True),
    "wire": Shape(topical=0.30, wire=0.9, wire_copies=True),
    "sparse": Shape(topical=0.01),
    "rich": Shape(rich=True),
    "dense": Shape(topical=0.5),
}
DEFAULT = SHAPES["default"]


def _long_html(rng: random.Random, lead: str, pool: list[str], link: str) -> str:
    """A full text of 5-20 KB: the lead, then paragraphs drawn with replacement."""
    target = rng.randint(5_000, 20_000)
    sentences = [lead]
    size = len(lead)
    while size < target:
        sentence = " ".join(rng.choice(pool) for _ in range(4))
        sentences.append(sentence)
        size += len(sentence) + 7
    return _html(rng, sentences, link)


def _item(rng: random.Random, feed_no: int, item_no: int, domain: str,
          shape: Shape = DEFAULT) -> _Item:
    kind = rng.random()
    lang = None
    place = rng.choice(PLACES)
    if shape.wire_copies and kind < shape.topical and rng.random() < shape.wire:
        # The same agency report word for word: one of a few texts, in many feeds.
        n = rng.randrange(5)
        title = TOPICAL_TITLES[n]
        text = TOPICAL_TEXT[n % len(TOPICAL_TEXT)]
        story = 1_000_000 + feed_no * 10_000 + item_no
        link = f"https://www.{domain}/{rng.choice(SECTIONS)}/{story}"
        date = BASE_DATE - timedelta(minutes=37 * item_no + rng.randrange(30) + feed_no % 60)
        return _Item(title, link, f"{domain}-{story}", date, rng.choice(AUTHORS),
                     ("World",), f"<p>{escape(text)}</p>", None, None)
    if kind < shape.topical:  # on the monitored story: wire copy or an outlet's own headline
        title = rng.choice(TOPICAL_TITLES) if rng.random() < shape.wire else " ".join(
            rng.choice(part) for part in
            (TOPICAL_SUBJECTS, TOPICAL_ACTIONS, TOPICAL_OBJECTS, TOPICAL_ENDINGS))
        lead = rng.choice(TOPICAL_TEXT)
        pool = TOPICAL_TEXT + FILLER
    elif kind < shape.topical + 0.05:
        title, lead, pool, lang = rng.choice(RU_TITLES), rng.choice(RU_TEXT), RU_TEXT, "ru"
    elif kind < shape.topical + 0.08:
        title, lead, pool, lang = rng.choice(FA_TITLES), rng.choice(FA_TEXT), FA_TEXT, "fa"
    else:
        actor, verb, obj = rng.choice(ACTORS), rng.choice(VERBS), rng.choice(OBJECTS)
        title = f"{actor} to {verb} {obj} in {place}"
        lead = f"{place.upper()}: {actor} on {BASE_DATE:%A} moved to {verb} {obj}."
        pool = FILLER
    story = 1_000_000 + feed_no * 10_000 + item_no
    link = f"https://www.{domain}/{rng.choice(SECTIONS)}/{story}"
    date = BASE_DATE - timedelta(minutes=37 * item_no + rng.randrange(30) + feed_no % 60)
    if shape.short:
        summary = f"<p>{escape(lead)}</p>"
        content = None
    else:
        summary = _html(rng, _paragraphs(rng, lead, pool, rng.randint(1, 2)), link)
        content = None
        if shape.long:
            content = _long_html(rng, lead, pool + FILLER, link)
        elif rng.random() < 0.35:
            content = _html(rng, _paragraphs(rng, lead, pool + FILLER, rng.randint(4, 7)),
                            link)
    cats = tuple(rng.sample(CATEGORIES, k=rng.randint(1, 3)))
    return _Item(title, link, f"{domain}-{story}", date, rng.choice(AUTHORS), cats, summary,
                 content, lang)


def _outlet_ns(site: str) -> tuple[str, str]:
    """(prefix, URI) of an outlet's own feed namespace, as several big outlets have one."""
    host = site.split("//", 1)[1].split("/", 1)[0].removeprefix("www.")
    return host.split(".")[0][:6] or "site", f"https://{host}/namespaces/rss/1.0"


def _media(it: _Item, indent: str = "") -> str:
    """A Media RSS image of the item, with its credit and caption (what news feeds carry)."""
    base = it.link.rsplit("/", 1)[0]
    image = f"{base}/images/{it.guid}.jpg"
    words = it.title.split()
    caption = f"File photo: {' '.join(words[:4])}" if words else "File photo"
    return (f'{indent}<media:content url="{image}" medium="image" width="1024" height="576">'
            f'<media:credit scheme="urn:ebu">Agency photographer</media:credit>'
            f'<media:description type="plain">{escape(caption)}</media:description>'
            f"</media:content>\n"
            f'{indent}<media:thumbnail url="{image}?w=240" width="240" height="135"/>\n')


def _rss(name: str, site: str, self_url: str, items: list[_Item], rich: bool = False
         ) -> list[str]:
    """The feed's text in parts: the channel's head, one part per item, the tail."""
    prefix, uri = _outlet_ns(site)
    extra = (f' xmlns:media="http://search.yahoo.com/mrss/" xmlns:{prefix}="{uri}"'
             if rich else "")
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        f'xmlns:atom="http://www.w3.org/2005/Atom"{extra}>\n<channel>\n'
        f"<title>{escape(name)}</title>\n<link>{site}</link>\n"
        f'<atom:link href="{self_url}" rel="self" type="application/rss+xml"/>\n'
        f"<description>Latest news from {escape(name)}</description>\n"
        f"<language>en</language>\n<lastBuildDate>{format_datetime(BASE_DATE)}</lastBuildDate>\n"
    ]
    for it in items:
        lang = f' xml:lang="{it.lang}"' if it.lang else ""
        cats = "".join(f"<category>{escape(c)}</category>" for c in it.categories)
        content = (f"<content:encoded><![CDATA[{it.content_html}]]></content:encoded>"
                   if it.content_html else "")
        own = (f"<{prefix}:section>{escape(it.categories[0])}</{prefix}:section>\n"
               f"<{prefix}:byline>{escape(it.author)}</{prefix}:byline>\n{_media(it)}"
               if rich else "")
        out.append(
            f"<item{lang}>\n<title>{escape(it.title)}</title>\n<link>{it.link}</link>\n"
            f'<guid isPermaLink="false">{it.guid}</guid>\n'
            f"<pubDate>{format_datetime(it.date)}</pubDate>\n"
            f"<dc:creator>{escape(it.author)}</dc:creator>\n{cats}\n"
            f"<description><![CDATA[{it.summary_html}]]></description>\n{content}{own}"
            "</item>\n"
        )
    out.append("</channel>\n</rss>\n")
    return out


def _atom(name: str, site: str, self_url: str, items: list[_Item], rich: bool = False
          ) -> list[str]:
    """The feed's text in parts: the feed's head, one part per entry, the tail."""
    extra = (' xmlns:thr="http://purl.org/syndication/thread/1.0" '
             'xmlns:media="http://search.yahoo.com/mrss/"' if rich else "")
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
        f'xml:lang="en"{extra}>\n'
        f'<title>{escape(name)}</title>\n<link href="{site}"/>\n'
        f'<link rel="self" href="{self_url}"/>\n<id>{self_url}</id>\n'
        f"<updated>{BASE_DATE.isoformat()}</updated>\n"
    ]
    for it in items:
        lang = f' xml:lang="{it.lang}"' if it.lang else ""
        cats = "".join(f'<category term="{escape(c)}"/>' for c in it.categories)
        content = (f'<content type="html">{escape(it.content_html)}</content>\n'
                   if it.content_html else "")
        replies = len(it.guid) % 7  # a comment count that varies from entry to entry
        thread = (f'<link rel="replies" type="text/html" href="{it.link}#comments" '
                  f'thr:count="{replies}"/>\n<thr:total>{replies}</thr:total>\n{_media(it)}'
                  if rich else "")
        out.append(
            f"<entry{lang}>\n<title>{escape(it.title)}</title>\n"
            f'<link rel="alternate" type="text/html" href="{it.link}"/>\n'
            f"<id>tag:{it.guid}</id>\n<published>{it.date.isoformat()}</published>\n"
            f"<updated>{it.date.isoformat()}</updated>\n"
            f"<author><name>{escape(it.author)}</name></author>\n{cats}\n"
            f'<summary type="html">{escape(it.summary_html)}</summary>\n{content}{thread}'
            "</entry>\n"
        )
    out.append("</feed>\n")
    return out


def generate(feeds: int = 500, items: int = 50, seed: int = 1,
             shape: str = "default", changing: int = 0) -> list[Document]:
    """``feeds`` documents of ``items`` entries each, the same for the same arguments
    (``shape``: a key of ``SHAPES``).

    ``changing``: each document also has a ``later`` body, the feed as a later poll finds
    it: ``changing`` newer entries on top and the ``changing`` oldest gone (a server that
    sends the whole feed again, as most do, rather than 304: the steady state of a
    daemon). With ``changing`` the entries are drawn afresh: a workload of the same
    shape, not the same items."""
    form = SHAPES[shape]
    rng = random.Random(seed)
    docs = []
    for n in range(feeds):
        name, domain = OUTLETS[n % len(OUTLETS)]
        name = f"{name} {SECTIONS[n % len(SECTIONS)].title()} {n}"
        site = f"https://www.{domain}/"
        atom = rng.random() < 0.3
        path = f"/feeds/{n}.{'atom' if atom else 'rss'}"
        self_url = f"https://www.{domain}{path}"
        # Entry 0 is the newest; the first body shows entries changing .. changing+items-1.
        entries = [_item(rng, n, i, domain, form) for i in range(items + changing)]
        parts = (_atom if atom else _rss)(name, site, self_url, entries, form.rich)
        head, tail = parts[0], parts[-1]
        first = head + "".join(parts[1 + changing : -1]) + tail
        later = head + "".join(parts[1 : 1 + items]) + tail if changing else None
        docs.append(Document(path, first.encode("utf-8"), ATOM_TYPE if atom else RSS_TYPE,
                             items, later.encode("utf-8") if later is not None else None))
    return docs


def write_to(directory: Path, docs: list[Document]) -> list[Path]:
    """Write the documents as files (for inspection or file:// runs); returns the paths."""
    paths = []
    for doc in docs:
        path = directory / doc.path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(doc.body)
        paths.append(path)
    return paths


# -- the real feed files of ../shared ----------------------------------------------------------

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "feeds"
_CORPUS_TYPES = {".atom": ATOM_TYPE, ".json": "application/feed+json",
                 ".rdf": "application/rdf+xml"}


def corpus(root: Path = CORPUS) -> list[Document]:
    """Every file under ``root`` (the feed corpus of ../shared: parser test suites and
    real-world snapshots, well-formed or not, in many encodings) as a document served at
    its relative path: a workload nobody shaped for a benchmark. ``items`` counts the
    ``<item``/``<entry`` tags and JSON Feed ``"id"`` keys, a rough count for items/s.
    Empty when ``root`` is absent."""
    docs = []
    if not root.is_dir():
        return docs
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name.startswith(("LICENSE", "SOURCES")):
            continue
        body = path.read_bytes()
        items = body.count(b"<item") + body.count(b"<entry")
        if path.suffix == ".json":
            items = body.count(b'"id"')
        docs.append(Document("/" + quote(path.relative_to(root).as_posix()),
                             body, _CORPUS_TYPES.get(path.suffix, RSS_TYPE), items))
    return docs
