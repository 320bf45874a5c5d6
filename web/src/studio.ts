document.getElementById('studio')!.textContent = 'studio';
