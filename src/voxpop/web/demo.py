"""The demo newsroom: three short articles written for voxpop, served at ``/``."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True, slots=True)
class DemoArticle:
    slug: str
    title: str
    dek: str
    byline: str
    date: str
    paragraphs: tuple[str, ...]
    # An editor's question on a passage: (paragraph index, the passage, the question).
    question: tuple[int, str, str] | None = None

    @property
    def uri(self) -> str:
        return f"/demo/{self.slug}"

    def html(self) -> Markup:
        """The article's body as the page shows it and as voxpop registers it: one HTML
        for both, so the reader's page and the server agree on its canonical text."""
        parts = [
            Markup("<h1>{}</h1>").format(self.title),
            Markup('<p class="dek">{}</p>').format(self.dek),
            Markup('<p class="meta">{} · <time datetime="{}">{}</time></p>').format(
                self.byline, self.date, self.date
            ),
        ]
        for index, paragraph in enumerate(self.paragraphs):
            body = escape(paragraph)
            if self.question and self.question[0] == index:
                _, passage, question = self.question
                before, found, after = paragraph.partition(passage)
                if found:
                    body = Markup('{}<mark data-voxpop-question="{}">{}</mark>{}').format(
                        before, question, found, after
                    )
            parts.append(Markup("<p>{}</p>").format(body))
        return Markup("\n").join(parts)


ARTICLES: tuple[DemoArticle, ...] = (
    DemoArticle(
        slug="harbour-bridge-reopens",
        title="Harbour bridge reopens after eighteen months of repairs",
        dek="Cyclists get a lane of their own; drivers a lower speed limit.",
        byline="By Mara Lindqvist, city desk",
        date="2026-11-26",
        paragraphs=(
            "The old harbour bridge reopened to traffic on Wednesday morning, eighteen months "
            "after engineers closed it when a routine inspection found corroded cables under "
            "the eastern span.",
            "The repairs cost 41 million, four million more than budgeted. The city says the "
            "overrun came from replacing all sixty-four cables instead of the twenty first "
            "planned, after tests showed rust had spread further than expected.",
            "Cyclists now have a protected lane on the northern side, separated from cars by a "
            "low concrete kerb. The speed limit for motor traffic drops from 50 to 40 km/h.",
            "Shop owners on Quay Street, who saw fewer customers during the closure, welcomed "
            "the reopening but asked the council to keep the temporary ferry running at "
            "weekends.",
        ),
    ),
    DemoArticle(
        slug="library-night-hours",
        title="Central library to stay open until midnight during exam season",
        dek="A six-week trial starts in January, staffed by volunteers and two new hires.",
        byline="By Tomás Ferreira, education",
        date="2026-11-24",
        paragraphs=(
            "The central library will keep its reading rooms open until midnight from the "
            "second week of January, in a trial meant for students who lack a quiet place to "
            "revise at home.",
            "Two part-time staff will be hired for the late shifts, and the students' union "
            "has recruited thirty volunteers to help at the desk.",
            "Only the ground floor and the first-floor reading room will stay open after nine. "
            "The café will close at the usual time, but water fountains and the lockers remain "
            "available.",
            "If the trial draws more than two hundred visitors a night on average, the council "
            "will consider making the late hours permanent from next autumn.",
        ),
        question=(
            3,
            "more than two hundred visitors a night",
            "Is two hundred visitors a night the right bar for keeping the late hours?",
        ),
    ),
    DemoArticle(
        slug="community-garden-harvest",
        title="Community garden's first harvest feeds two hundred families",
        dek="Volunteers turned a disused car park into forty raised beds in one season.",
        byline="By Aiyana Brooks, neighbourhoods",
        date="2026-11-20",
        paragraphs=(
            "Eight months ago the plot behind the old bus depot was cracked tarmac. This "
            "autumn its forty raised beds gave up nearly two tonnes of potatoes, beans, "
            "squash and kale.",
            "The harvest went to the food bank on Mill Road, which says it served two hundred "
            "families with fresh vegetables for the first time since it opened.",
            "The garden runs on donated soil and rainwater collected from the depot roof. "
            "Schools nearby have asked for beds of their own next spring.",
        ),
    ),
)

BY_SLUG = {a.slug: a for a in ARTICLES}
