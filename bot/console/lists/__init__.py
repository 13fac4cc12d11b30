"""What the console shows many of, a page or a card at a time: the patient list paged
(`patient_page`) and the queue's case cards kept once drawn (`case_cards`); issue 32."""
