# ruff: noqa: E501
"""The shared taxonomy's label names and descriptions (fixtures/taxonomy.json), marked for
translation so that the French catalogue carries them; a test keeps this list equal to the
fixture. Pages show a label in the reader's language where the catalogue has it, else in
English marked as such."""

from __future__ import annotations

from django.utils.translation import gettext_noop

TAXONOMY_TEXT = frozenset(
    {
        gettext_noop("Imminent credible threat"),
        gettext_noop(
            "Content that threatens a specific, credible act of terrorist violence that is imminent: named targets, times, places, or means."
        ),
        gettext_noop("Graphic violence against defenceless people"),
        gettext_noop(
            "Depictions of terrorist or violent-extremist violence against people who cannot defend themselves: executions, attacks on civilians, hostages."
        ),
        gettext_noop("Glorification of terrorist acts"),
        gettext_noop(
            "Content that praises, celebrates or memorialises terrorist attacks or attackers in order to inspire imitation."
        ),
        gettext_noop("Radicalisation"),
        gettext_noop("Propaganda that seeks to draw people into a violent-extremist ideology."),
        gettext_noop("Recruitment"),
        gettext_noop(
            "Calls to join, fund or otherwise materially support a terrorist or violent-extremist group."
        ),
        gettext_noop("Instruction"),
        gettext_noop("Instructions for making weapons or explosives or for carrying out attacks."),
        gettext_noop("Attacker manifesto"),
        gettext_noop(
            "A document written by the perpetrator of an attack to explain or promote it."
        ),
        gettext_noop("Child sexual abuse material"),
        gettext_noop(
            "Material depicting the sexual abuse or exploitation of children. Shared only in restricted banks among vetted members."
        ),
        gettext_noop("Targeted hate: incitement"),
        gettext_noop(
            "Incitement to violence or hatred against people because of a protected characteristic."
        ),
        gettext_noop("Targeted hate: dehumanisation"),
        gettext_noop("Content describing a protected group as subhuman, vermin or disease."),
        gettext_noop("Coordinated harassment"),
        gettext_noop("Material used in coordinated campaigns to harass a person or group."),
        gettext_noop("Non-consensual intimate imagery"),
        gettext_noop("Intimate images shared without the consent of the person depicted."),
        gettext_noop("Crisis: live-streamed attack"),
        gettext_noop(
            "Footage of, or derived from, a live-streamed attack covered by a declared crisis incident."
        ),
        gettext_noop("Crisis: perpetrator-produced content"),
        gettext_noop(
            "Content produced by the perpetrator of an attack under a declared crisis incident (other than the attack footage)."
        ),
    }
)
