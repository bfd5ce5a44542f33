"""The bot's own words in English and French, picked by the user's Discord locale.

Only the interface is translated; passages are quoted as written. A string missing
in French falls back to English, so adding a message means adding one English line.
"""

from __future__ import annotations

import re
import string
from typing import Any

import discord
from discord import app_commands

from retrieval.tokenization import question_language

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "answered": "Passages from the articles that answer this, best first.",
        "not_answered": "I found nothing in the articles that answers this.",
        "closest": "The closest passages, which may not answer it:",
        "closest_label": "closest",
        "no_passages": "The index is empty: nothing has been indexed yet.",
        "no_passages_dated": "No article published in those dates matches (undated articles are left out).",
        "footer": (
            "{articles:n:article|articles} · {passages:n:passage|passages} · last indexed {indexed} · "
            "citebot quotes, it never writes"
        ),
        "more": "More passages",
        "no_more": "There are no more passages.",
        "more_title": "More passages for: {question}",
        "full_button": "[{n}] in full",
        "sources_title": "Indexed articles ({count})",
        "sources_empty": "No article is indexed yet.",
        "source_line": "{lang} · {chunks:n:passage|passages} · indexed {indexed}",
        "source_own": "added in this server",
        "page": "Page {page} of {pages}",
        "previous": "Previous",
        "next": "Next",
        "source_unknown": "No indexed article is called `{name}`.",
        "field_id": "File",
        "field_language": "Language",
        "field_passages": "Passages",
        "field_indexed": "Indexed",
        "field_url": "Address",
        "field_site": "Outlet",
        "field_published": "Published",
        "field_author": "Author",
        "announce": "New: {title}",
        "feed_added": (
            "Subscribed to **{title}** (<{url}>), which lists {items:n:item|items} now; its new articles are "
            "fetched and indexed in a moment, then every {minutes:g} minutes."
        ),
        "feed_removed": "Unsubscribed from **{title}** (<{url}>); the articles it brought stay.",
        "feeds_title": "News feeds of this server ({count})",
        "feeds_empty": "This server follows no news feed yet: `/feeds add url:` subscribes to one.",
        "feed_line": "**{title}** <{url}> · last polled {polled} · {state}",
        "feed_never": "not yet",
        "feed_ok": "ok",
        "feed_failing": "{errors:n:failed poll|failed polls} in a row: {error}",
        "feeds_announced": "New articles from these feeds are posted in <#{channel}>.",
        "feeds_not_announced": (
            "New articles from these feeds are not posted anywhere: `/feeds announce channel:`."
        ),
        "announce_set": (
            "New articles from this server's news feeds will be posted in <#{channel}> "
            "(one line each, pinging no one)."
        ),
        "announce_welcome": "New articles from this server's news feeds will be posted here.",
        "announce_off": "New articles from this server's news feeds are no longer posted in a channel.",
        "announce_cannot_post": (
            "I cannot post in <#{channel}>: give me the Send Messages permission there, or choose "
            "another channel. Nothing changed."
        ),
        "reindex_done": (
            "Reindexed: {added:,} added, {changed:,} changed, {removed:,} removed, {unchanged:,} unchanged "
            "({embedded:n:passage|passages} embedded in {seconds:.1f} s)."
        ),
        "skipped": "Skipped: {items}",
        "add_needs_one": "Attach a .txt, .md or .html file, or give a URL (one of the two).",
        "read_only": (
            "This bot only reads the archive (a read-only replica): articles are added and reindexed "
            "where the index is written, by the writing bot or `citebot index`."
        ),
        "add_bad_type": "I can only add .txt, .md and .html files (got `{name}`).",
        "add_too_large": "That file is too large ({size:,} bytes; the limit is {limit:,}).",
        "add_done": "Added **{title}** as `{name}` ({chunks:n:passage|passages}). It can be asked about now.",
        "add_skipped": "Saved `{name}`, but it could not be indexed: {reason}",
        "add_unreadable": "`{name}` cannot be indexed: {reason}. Nothing was saved.",
        "question_empty": "The question is empty: ask something in words.",
        "question_too_long": "The question is too long ({length:,} characters; the limit is {limit:,}).",
        "dates_not_a_date": (
            "`{name}:` is not a date: “{text}”. Use a date such as 2020-02-12, or 7d, 2w, 3m, 1y "
            "for that long ago."
        ),
        "dates_empty": "No date is in that range: since ({since}) comes after until ({until}).",
        "dates_too_long_ago": "{ago} is too long ago. Use a date such as 2020-02-12, or 7d, 2w, 3m, 1y.",
        "error_generic": "Something went wrong on my side; the error is logged. Try again in a moment.",
        "error_permissions": "You need the Manage Server permission for this.",
        "error_guild_only": "This command works in a server, not in direct messages.",
        "error_cooldown": "Easy there: you can ask again in {seconds:.0f} s.",
        "error_busy": "The index is busy; try again in a moment.",
        "error_store": "The article index cannot be reached right now; try again in a minute.",
        "error_no_index": "Nothing is indexed yet: the articles are being indexed. Try again in a minute.",
        "mention_help": (
            "Ask me a question after the mention, e.g. “@citebot what did No Music for ICE demand?” "
            "`/help` says more."
        ),
        "follow_button": "Follow up",
        "followup_title": "Ask a follow-up question",
        "followup_label": "Your question",
        "followup_placeholder": "e.g. And how many people signed it?",
        "followup_posted": "Answered in {thread}.",
        "thread_forbidden": (
            "I can’t answer in a thread here: I need the Create Public Threads and Send Messages in "
            "Threads permissions in this channel."
        ),
        "answer_unknown": "I no longer have this answer’s details; ask again with /ask.",
        "passage_removed": "That passage has since been removed from the articles; ask again for new ones.",
        "vote_up": "Thanks, your 👍 is recorded. You can change your vote at any time.",
        "vote_down": "Thanks, your 👎 is recorded. You can change your vote at any time.",
        "gold_question": "Was the answer in another passage?",
        "gold_placeholder": "The passage that answers it",
        "gold_none": "None of them",
        "gold_done": "Recorded: passage [{n}] answers it. Thank you!",
        "gold_none_done": "Recorded: none of these passages answers it. Thank you!",
        "find_sources_empty": "That message has no text to look up.",
        "delete_base": (
            "This server writes the base library, which every server reads: it is the operator's to "
            "change, not deleted from Discord."
        ),
        "delete_nothing": "This server has no articles or feeds of its own to delete.",
        "delete_confirm": (
            "Delete this server's own library: {articles:n:article|articles} and {feeds:n:feed|feeds}, "
            "with the saved files? Its articles can no longer be asked about here; the base library stays."
        ),
        "delete_button": "Delete",
        "cancel_button": "Cancel",
        "delete_running": "Deleting…",
        "delete_done": "Deleted this server's library, its feeds and its saved files.",
        "delete_cancelled": "Nothing was deleted.",
        "delete_expired": "No answer in time: nothing was deleted. Run `/delete-library` again to delete.",
        "help_title": "How to use citebot",
        "help_about": (
            "I answer questions with passages quoted from the news articles indexed here, each with its "
            "source, date and link. I never write an answer of my own: when nothing answers, I say so."
        ),
        "help_ask_name": "Ask",
        "help_ask": (
            "`/ask question:`, or mention me with your question, in English or French. `k:` shows more "
            "passages; `since:` and `until:` keep a period (2020-02-12, or 7d, 2w, 3m, 1y ago); `private:` "
            "shows the answer to you only. On a "
            "message someone posted, **Find sources** (in its Apps menu) looks its text up."
        ),
        "help_then_name": "Then",
        "help_then": (
            "**Follow up** asks the next question in a thread, read with the earlier ones. 👍 / 👎 say "
            "whether the first passage answered; the votes are used to test the answers."
        ),
        "help_archive_name": "What I can quote",
        "help_archive": (
            "{articles:n:article|articles} ({passages:n:passage|passages}): `/sources` lists them, "
            "`/source` shows one."
        ),
        "help_archive_own": "{own:n:article was|articles were} added by this server, for this server only.",
        "help_archive_none": "This server has added none of its own.",
        "help_moderators_name": "Moderators (Manage Server)",
        "help_moderators": (
            "`/add` a file or a web page, `/feeds add` a news feed, `/reindex`: they write this server's "
            "own library, which no other server reads; `/delete-library` deletes it. `/feeds announce` "
            "posts the feeds' new articles in a channel."
        ),
        "help_moderators_base": (
            "`/add` a file or a web page, `/feeds add` a news feed, `/reindex`: in this server they write "
            "the base library, which every server reads. `/feeds announce` posts the feeds' new articles "
            "in a channel."
        ),
        "help_moderators_dm": "`/add`, `/feeds` and `/reindex` work in a server, not in direct messages.",
    },
    "fr": {
        "answered": "Les passages des articles qui y répondent, les meilleurs d’abord.",
        "not_answered": "Je n’ai rien trouvé dans les articles qui réponde à cette question.",
        "closest": "Les passages les plus proches, qui n’y répondent peut-être pas :",
        "closest_label": "le plus proche",
        "no_passages": "L’index est vide : rien n’a encore été indexé.",
        "no_passages_dated": (
            "Aucun article publié à ces dates ne correspond (les articles sans date sont exclus)."
        ),
        "footer": (
            "{articles:n:article|articles} · {passages:n:passage|passages} · indexé le {indexed} · "
            "citebot cite, il n’écrit jamais"
        ),
        "more": "Plus de passages",
        "no_more": "Il n’y a pas d’autres passages.",
        "more_title": "Plus de passages pour : {question}",
        "full_button": "[{n}] en entier",
        "sources_title": "Articles indexés ({count})",
        "sources_empty": "Aucun article n’est encore indexé.",
        "source_line": "{lang} · {chunks:n:passage|passages} · indexé le {indexed}",
        "source_own": "ajouté dans ce serveur",
        "page": "Page {page} sur {pages}",
        "previous": "Précédent",
        "next": "Suivant",
        "source_unknown": "Aucun article indexé ne s’appelle `{name}`.",
        "field_id": "Fichier",
        "field_language": "Langue",
        "field_passages": "Passages",
        "field_indexed": "Indexé",
        "field_url": "Adresse",
        "field_site": "Média",
        "field_published": "Publié",
        "field_author": "Auteur",
        "announce": "Nouveau : {title}",
        "feed_added": (
            "Abonné à **{title}** (<{url}>), qui liste {items:n:article|articles} pour l’instant ; "
            "ses nouveaux articles sont récupérés et indexés dans un instant, "
            "puis toutes les {minutes:g} minutes."
        ),
        "feed_removed": "Désabonné de **{title}** (<{url}>) ; les articles qu’il a apportés restent.",
        "feeds_title": "Flux d’actualités de ce serveur ({count})",
        "feeds_empty": "Ce serveur ne suit encore aucun flux : `/feeds add url:` en ajoute un.",
        "feed_line": "**{title}** <{url}> · relevé {polled} · {state}",
        "feed_never": "pas encore",
        "feed_ok": "ok",
        "feed_failing": "{errors:n:relevé échoué|relevés échoués} d’affilée : {error}",
        "feeds_announced": "Les nouveaux articles de ces flux sont publiés dans <#{channel}>.",
        "feeds_not_announced": (
            "Les nouveaux articles de ces flux ne sont publiés nulle part : `/feeds announce channel:`."
        ),
        "announce_set": (
            "Les nouveaux articles des flux de ce serveur seront publiés dans <#{channel}> "
            "(une ligne chacun, sans mentionner personne)."
        ),
        "announce_welcome": "Les nouveaux articles des flux d’actualités de ce serveur seront publiés ici.",
        "announce_off": "Les nouveaux articles des flux de ce serveur ne sont plus publiés dans un salon.",
        "announce_cannot_post": (
            "Je ne peux pas écrire dans <#{channel}> : donnez-moi la permission Envoyer des messages "
            "dans ce salon, ou choisissez-en un autre. Rien n’a changé."
        ),
        "reindex_done": (
            "Réindexé : {added:n:ajouté|ajoutés}, {changed:n:modifié|modifiés}, "
            "{removed:n:supprimé|supprimés}, {unchanged:n:inchangé|inchangés} "
            "({embedded:n:passage vectorisé|passages vectorisés} en {seconds:.1f} s)."
        ),
        "skipped": "Ignorés : {items}",
        "add_needs_one": "Joignez un fichier .txt, .md ou .html, ou donnez une URL (l’un des deux).",
        "read_only": (
            "Ce bot ne fait que lire l’archive (une réplique en lecture seule) : les articles s’ajoutent et "
            "se réindexent là où l’index est écrit, par le bot qui écrit ou `citebot index`."
        ),
        "add_bad_type": "Je n’ajoute que des fichiers .txt, .md et .html (reçu `{name}`).",
        "add_too_large": "Ce fichier est trop gros ({size:,} octets ; la limite est {limit:,}).",
        "add_done": (
            "Ajouté : **{title}** sous le nom `{name}` ({chunks:n:passage|passages}). "
            "On peut déjà poser des questions."
        ),
        "add_skipped": "`{name}` est enregistré mais n’a pas pu être indexé : {reason}",
        "add_unreadable": "`{name}` ne peut pas être indexé : {reason}. Rien n’a été enregistré.",
        "question_empty": "La question est vide : posez-la avec des mots.",
        "question_too_long": "La question est trop longue ({length:,} caractères ; la limite est {limit:,}).",
        "dates_not_a_date": (
            "`{name}:` n’est pas une date : « {text} ». Donnez une date comme 2020-02-12, "
            "1er décembre 2026, hier, ou il y a 7j, 2s, 3m, 1a (jours, semaines, mois, ans)."
        ),
        "dates_empty": ("Aucune date dans cet intervalle : since ({since}) vient après until ({until})."),
        "dates_too_long_ago": (
            "{ago}, c’est trop loin. Donnez une date comme 2020-02-12, ou il y a 7j, 2s, 3m, 1a."
        ),
        "error_generic": (
            "Un problème est survenu de mon côté ; l’erreur est journalisée. Réessayez dans un instant."
        ),
        "error_permissions": "Il faut la permission Gérer le serveur pour cela.",
        "error_guild_only": "Cette commande fonctionne sur un serveur, pas en message privé.",
        "error_cooldown": "Doucement : vous pourrez reposer une question dans {seconds:.0f} s.",
        "error_busy": "L’index est occupé ; réessayez dans un instant.",
        "error_store": "L’index des articles est injoignable pour le moment ; réessayez dans une minute.",
        "error_no_index": (
            "Rien n’est encore indexé : les articles sont en cours d’indexation. Réessayez dans une minute."
        ),
        "mention_help": (
            "Posez une question après la mention, p. ex. « @citebot qu’exigeait No Music for ICE ? » "
            "`/help` en dit plus."
        ),
        "follow_button": "Poursuivre",
        "followup_title": "Poser une question de suite",
        "followup_label": "Votre question",
        "followup_placeholder": "p. ex. Et combien de personnes l’ont signée ?",
        "followup_posted": "Réponse dans {thread}.",
        "thread_forbidden": (
            "Je ne peux pas répondre dans un fil ici : il me faut les permissions Créer des fils "
            "publics et Envoyer des messages dans les fils dans ce salon."
        ),
        "answer_unknown": "Je n’ai plus les détails de cette réponse ; reposez la question avec /ask.",
        "passage_removed": (
            "Ce passage a été retiré des articles depuis ; reposez la question pour les passages actuels."
        ),
        "vote_up": "Merci, votre 👍 est enregistré. Vous pouvez changer d’avis à tout moment.",
        "vote_down": "Merci, votre 👎 est enregistré. Vous pouvez changer d’avis à tout moment.",
        "gold_question": "La réponse était-elle dans un autre passage ?",
        "gold_placeholder": "Le passage qui y répond",
        "gold_none": "Aucun",
        "gold_done": "Enregistré : le passage [{n}] y répond. Merci !",
        "gold_none_done": "Enregistré : aucun de ces passages n’y répond. Merci !",
        "find_sources_empty": "Ce message n’a pas de texte à chercher.",
        "delete_base": (
            "Ce serveur écrit la bibliothèque de base, que tous les serveurs lisent : c’est à "
            "l’opérateur de la changer, elle ne se supprime pas depuis Discord."
        ),
        "delete_nothing": "Ce serveur n’a ni article ni flux à lui à supprimer.",
        "delete_confirm": (
            "Supprimer la bibliothèque propre à ce serveur : {articles:n:article|articles} et "
            "{feeds:n:flux|flux}, avec les fichiers enregistrés ? On ne pourra plus interroger ses "
            "articles ici ; la bibliothèque de base reste."
        ),
        "delete_button": "Supprimer",
        "cancel_button": "Annuler",
        "delete_running": "Suppression…",
        "delete_done": "La bibliothèque de ce serveur, ses flux et ses fichiers enregistrés sont supprimés.",
        "delete_cancelled": "Rien n’a été supprimé.",
        "delete_expired": (
            "Pas de réponse à temps : rien n’a été supprimé. Relancez `/delete-library` pour supprimer."
        ),
        "help_title": "Comment utiliser citebot",
        "help_about": (
            "Je réponds aux questions par des passages cités des articles d’actualité indexés ici, chacun "
            "avec sa source, sa date et son lien. Je n’écris jamais de réponse moi-même : quand rien n’y "
            "répond, je le dis."
        ),
        "help_ask_name": "Demander",
        "help_ask": (
            "`/ask question:`, ou mentionnez-moi avec votre question, en français ou en anglais. `k:` "
            "montre plus de passages ; `since:` et `until:` gardent une période (2020-02-12, "
            "1er décembre 2026, hier, ou il y a 7j, 2s, 3m, 1a) ; `private:` ne montre la réponse qu’à "
            "vous. Sur un message posté, **Trouver des sources** (dans son menu Applications) en cherche "
            "le texte."
        ),
        "help_then_name": "Ensuite",
        "help_then": (
            "**Poursuivre** pose la question suivante dans un fil, lue avec les précédentes. 👍 / 👎 disent "
            "si le premier passage répondait ; les votes servent à tester les réponses."
        ),
        "help_archive_name": "Ce que je peux citer",
        "help_archive": (
            "{articles:n:article|articles} ({passages:n:passage|passages}) : `/sources` les liste, "
            "`/source` en montre un."
        ),
        "help_archive_own": (
            "{own:n:article a été ajouté|articles ont été ajoutés} par ce serveur, pour lui seul."
        ),
        "help_archive_none": "Ce serveur n’en a ajouté aucun.",
        "help_moderators_name": "Modération (Gérer le serveur)",
        "help_moderators": (
            "`/add` un fichier ou une page web, `/feeds add` un flux d’actualités, `/reindex` : ils écrivent "
            "la bibliothèque propre à ce serveur, qu’aucun autre serveur ne lit ; `/delete-library` la "
            "supprime. `/feeds announce` publie les nouveaux articles des flux dans un salon."
        ),
        "help_moderators_base": (
            "`/add` un fichier ou une page web, `/feeds add` un flux d’actualités, `/reindex` : dans ce "
            "serveur, ils écrivent la bibliothèque de base, que tous les serveurs lisent. `/feeds announce` "
            "publie les nouveaux articles des flux dans un salon."
        ),
        "help_moderators_dm": (
            "`/add`, `/feeds` et `/reindex` fonctionnent dans un serveur, pas en messages privés."
        ),
    },
}


def language_of(locale: discord.Locale | str | None) -> str:
    """``"fr"`` for any French locale, else ``"en"`` (the only two the bot speaks)."""
    value = locale.value if isinstance(locale, discord.Locale) else (locale or "")
    return "fr" if value.lower().startswith("fr") else "en"


def t(language: str, key: str, **values: Any) -> str:
    """The message ``key`` in ``language`` (English when missing), formatted with ``values``.

    A count is written ``{name:n:one|many}``: ``1 passage``, ``3 passages``; French also
    puts 0 in the singular (``0 ajouté``)."""
    if not STRINGS.get(language, {}).get(key):
        language = "en"
    template = STRINGS[language][key]
    if language == "fr":
        template = french_spacing(template)
    return _Counts(language).format(template, **values) if values else template


#: A space French typography makes unbreakable: before « : ; ? ! » and inside « guillemets »,
#: so that Discord never wraps a line before the sign.
_FRENCH_SPACE = re.compile(r" (?=[:;?!»])|(?<=«) ")


def french_spacing(text: str) -> str:
    """``text`` with its spaces before ``: ; ? !`` and inside ``« »`` made no-break spaces."""
    return _FRENCH_SPACE.sub("\u00a0", text)


class _Counts(string.Formatter):
    """``str.format`` with one more field format: ``n:one|many`` writes the number and the
    word it takes in ``language``."""

    def __init__(self, language: str) -> None:
        self.language = language

    def format_field(self, value: Any, format_spec: str) -> str:
        if not format_spec.startswith("n:"):
            return self._number(super().format_field(value, format_spec), value)
        one, many = format_spec[2:].split("|")
        single = value == 1 if self.language == "en" else abs(value) < 2
        return f"{self._number(f'{value:,}', value)} {one if single else many}"

    def _number(self, text: str, value: Any) -> str:
        """A number as the language writes it: French groups digits with a narrow no-break
        space and writes a decimal comma (``1 234 567``, ``2,5 s``)."""
        if self.language != "fr" or isinstance(value, bool) or not isinstance(value, int | float):
            return text
        return text.replace(",", "\u202f").replace(".", ",")


def for_interaction(interaction: discord.Interaction) -> str:
    """The user's language; the server's when the user's is unknown."""
    return language_of(interaction.locale or interaction.guild_locale)


def for_message(question: str, guild_locale: discord.Locale | str | None) -> str:
    """The language to answer a message in (a mention, a message in a thread), which carries
    no member locale: its question's when that is clearly English or French, else the
    server's (most servers cannot change theirs from en-US)."""
    spoken = question_language(question)
    if spoken in STRINGS:
        return spoken
    # Few words, and English names ("No Music for ICE") may outweigh them: French is still
    # told by an elision (qu’, l’, d’…) or a space before ? ! : ;
    return "fr" if _FRENCH_CUE.search(question) else language_of(guild_locale)


#: What only French writes: an elided word before a letter, or a space before ? ! : ;
_FRENCH_CUE = re.compile(r"\b(?:qu|[cdjlmnst])['’][^\W\d_]|\w\s+[?!:;](?:\s|$)", re.IGNORECASE)


#: French for the slash commands' descriptions (Discord shows them by the user's language);
#: the command and option names stay the same everywhere, so the README's examples work.
COMMAND_TEXT_FR: dict[str, str] = {
    "Answer a question with cited passages from the articles": (
        "Répondre à une question par des passages cités des articles"
    ),
    "Your question, in English or French": "Votre question, en français ou en anglais",
    "How many passages (default 5)": "Combien de passages (5 par défaut)",
    "Only articles published from this date: 2020-02-12, or 7d, 2w, 3m, 1y ago": (
        "Seulement les articles publiés depuis cette date : 2020-02-12, hier, ou il y a 7j, 2s, 3m, 1a"
    ),
    "Only articles published until this date: 2020-02-12, or 7d, 2w, 3m, 1y ago": (
        "Seulement les articles publiés jusqu’à cette date : 2020-02-12, hier, ou il y a 7j, 2s, 3m, 1a"
    ),
    "List the indexed articles": "Lister les articles indexés",
    "How to use citebot, and what it can quote from": "Comment utiliser citebot, et ce qu’il peut citer",
    "Find sources": "Trouver des sources",
    "Only you see the answer (no follow-up thread then)": (
        "Vous seul voyez la réponse (sans fil de suite alors)"
    ),
    "Delete this server's own articles and feeds (the base stays)": (
        "Supprimer les articles et flux propres à ce serveur (la base reste)"
    ),
    "Show one indexed article": "Afficher un article indexé",
    "The article (start typing its title or file name)": (
        "L’article (tapez le début de son titre ou de son nom de fichier)"
    ),
    "Index new, changed and removed articles now": (
        "Indexer maintenant les articles nouveaux, modifiés et supprimés"
    ),
    "Add an article: attach a .txt/.md/.html file or give a URL": (
        "Ajouter un article : joindre un fichier .txt/.md/.html ou donner une URL"
    ),
    "A .txt, .md or .html file": "Un fichier .txt, .md ou .html",
    "This server's news feeds (RSS or Atom)": "Les flux d’actualités de ce serveur (RSS ou Atom)",
    "Subscribe to a news feed: its new articles are indexed as they come": (
        "S’abonner à un flux d’actualités : ses nouveaux articles sont indexés à mesure"
    ),
    "The feed's address (RSS or Atom)": "L’adresse du flux (RSS ou Atom)",
    "List this server's news feeds": "Lister les flux d’actualités de ce serveur",
    "Unsubscribe from a news feed (its articles stay)": (
        "Se désabonner d’un flux d’actualités (ses articles restent)"
    ),
    "The feed's address, as listed by /feeds list": "L’adresse du flux, comme /feeds list l’affiche",
    "Post this server's new feed articles in a channel, or nowhere": (
        "Publier les nouveaux articles des flux de ce serveur dans un salon, ou nulle part"
    ),
    "Where to post them; leave it out to stop posting them": (
        "Où les publier ; laissez vide pour ne plus les publier"
    ),
    "The address of an article page": "L’adresse de la page d’un article",
}


class CommandTranslator(app_commands.Translator):
    """Gives Discord the French descriptions of the slash commands when they are synced."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        if locale is discord.Locale.french and string.message in COMMAND_TEXT_FR:
            return french_spacing(COMMAND_TEXT_FR[string.message])
        return None
