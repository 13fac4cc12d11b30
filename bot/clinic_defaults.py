"""The crisis card and crisis words every clinic starts with (CLINICAL.md §5, §7: US resources);
a clinic replaces them in its settings."""

from __future__ import annotations

DEFAULT_CRISIS_CARD = (
    "If you are in crisis or thinking about suicide, please reach out now:\n"
    "• Call or text 988 (Suicide & Crisis Lifeline), or chat at 988lifeline.org\n"
    "• Veterans: call 988 and press 1, or text 838255\n"
    "• Crisis Text Line: text HOME to 741741\n"
    "• In immediate danger: call 911 or go to the nearest emergency department\n\n"
    "This chat is not an emergency service and is not watched around the clock. "
    "You deserve support, and help is available right now."
)

# US Spanish (issue 29): the 988 Lifeline in Spanish, from the providers' own pages
# (https://988lifeline.org/help-yourself/en-espanol/, https://988lineadevida.org; README
# "Languages": a clinic verifies them). Used only while the clinic keeps the US English card.
DEFAULT_CRISIS_CARDS = {
    "es": (
        "Si está en crisis o pensando en el suicidio, pida ayuda ahora:\n"
        "• Llame al 988 y marque 2 (988 Lifeline en español)\n"
        "• Envíe un mensaje de texto con la palabra AYUDA al 988\n"
        "• Chatee en 988lineadevida.org\n"
        "• Si está en peligro inmediato: llame al 911 o vaya a la sala de emergencias más "
        "cercana\n\n"
        "Este chat no es un servicio de emergencia y nadie lo vigila a todas horas. "
        "Usted merece apoyo, y hay ayuda disponible ahora mismo."
    ),
}

DEFAULT_CRISIS_TERMS = (
    "suicide",
    "suicidal",
    "kill myself",
    "killing myself",
    "end my life",
    "end it all",
    "want to die",
    "wanna die",
    "better off dead",
    "no reason to live",
    "self harm",
    "self-harm",
    "hurt myself",
    "cut myself",
    "cutting",
    "overdose",
    "od",
    "pills",
    "sleeping pills",
    "ibuprofen",
    "acetaminophen",
    "paracetamol",
    "tylenol",
    "800mg",
    "hang myself",
    "noose",
    "jump off",
    "gun",
    "💊",
    "🔪",
    "⚰️",
)
