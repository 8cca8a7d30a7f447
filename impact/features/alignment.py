"""Strategic alignment (seed 000): the improvement team records the organisation's strategic
aims, measurable goals, national targets and improvement projects, links work to goals, and
reads the matrix (aims → goals → targets → work, and the work linked to no aim), in Teams and
from the command line."""

from __future__ import annotations

from alignment.services.ports import WorkSource
from alignment.services.projects import ProjectWork
from cli.alignment import alignment_commands
from impact.feature import Feature
from store.alignment.personal import ALIGNMENT as ALIGNMENT_DATA

WORK_SOURCES: tuple[WorkSource, ...] = (ProjectWork(),)
"""Every kind of improvement work the matrix shows and links to goals. Huddle ideas join here
(a WorkSource of kind "idea"), when the huddles feature is wired in."""

ALIGNMENT = Feature(
    name="alignment",
    cli=alignment_commands(WORK_SOURCES),
    personal_data=(ALIGNMENT_DATA,),
)
