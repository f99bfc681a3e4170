"""The Telegram control bot: long polling, commands and alert buttons for allowed chats and users.

Run by: ``graphwiz-monitoring telegram`` (and ``run`` when ``notifications.telegram`` has a bot token
and an allowed chat or user). May import: alerting, health, metrics, realtime (its snapshot sections),
config, state, errors, tasks (the TaskSender protocol it is handed); never celery.
"""
